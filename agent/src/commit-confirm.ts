import { FULL_BASELINE, type DesiredState, type RulesetIR } from "@fleetwall/api";
import type { Logger } from "pino";
import type { AgentBus } from "./agent-bus.js";
import type { Enforced, FirewallBackend } from "./backend.js";

/** What commit-confirm found: confirmed, or rolled back (with what the rollback applied, and who is to blame). */
export type ConfirmOutcome =
  | { confirmed: true }
  | {
      confirmed: false;
      /** What the backend reported for the restored ruleset; undefined when the rollback failed. */
      restored: Enforced | undefined;
      error: string;
      /** The bus answered with the previous ruleset back: the new one was the cause, not to be tried again. */
      blamed: boolean;
    };

/** A ruleset that accepts everything: what a host without a previous ruleset goes back to. */
const openRuleset = (): RulesetIR => ({ baseline: { ...FULL_BASELINE }, policies: [], defaultInput: { verdict: "accept" }, defaultOutput: { verdict: "accept" } });

/**
 * Commit-confirm: after an apply the bus must still answer within the confirm window; if it does
 * not, the previous ruleset is restored. When the bus does not answer with the previous ruleset
 * either, the new one was not the cause: it may be tried again.
 */
export async function commitConfirm(
  bus: AgentBus,
  backend: FirewallBackend,
  log: Logger,
  state: DesiredState,
  previous: RulesetIR | undefined,
  windowMs: number,
): Promise<ConfirmOutcome> {
  log.debug({ revision: state.revision, windowMs }, "waiting for the bus to confirm the ruleset");
  // an agent told to stop meanwhile gets no answer: it restores the last confirmed ruleset, the one
  // it has saved, and stops
  if (await bus.roundTrip(windowMs)) return { confirmed: true };
  log.error({ revision: state.revision, windowMs }, "bus unreachable after apply; rolling back");
  let restored: Enforced | undefined;
  try {
    restored = await backend.applyRuleset(previous ?? openRuleset());
  } catch (error) {
    log.error({ err: error }, "rollback failed");
  }
  const reachable = await bus.roundTrip(windowMs);
  const error = `revision ${state.revision} rolled back: the bus did not answer within ${Math.round(windowMs / 1000)} s of applying it`;
  return { confirmed: false, restored, error, blamed: reachable };
}
