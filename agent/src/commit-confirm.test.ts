// Commit-confirm on its own: confirmed, rolled back to the previous ruleset (blamed or not), and a
// rollback the backend refuses.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { SCHEMA_VERSION, type DesiredState, type RulesetIR } from "@fleetwall/api";
import type { AgentBus } from "./agent-bus.js";
import { commitConfirm } from "./commit-confirm.js";
import { MemoryBackend } from "./memory-backend.js";

const log = pino({ level: "silent" });
const ruleset = (name: string): RulesetIR => ({
  baseline: { loopback: true, established: true, dropInvalid: true, badTcpFlags: true },
  policies: [{ name, mode: "enforce", input: [], output: [], defaultInput: "drop", defaultOutput: "accept" }],
  defaultInput: { verdict: "drop" },
  defaultOutput: { verdict: "accept" },
});
const state = (revision: number): DesiredState => ({ schemaVersion: SCHEMA_VERSION, hostId: "h1", revision, hash: `h${revision}`, policies: [], ruleset: ruleset("new"), jails: [] });
/** A bus that answers the round trips in `answers`, in order. */
const bus = (...answers: boolean[]) => ({ roundTrip: async () => answers.shift() ?? false }) as unknown as AgentBus;

describe("commitConfirm", () => {
  it("confirms when the bus answers, and changes nothing", async () => {
    const backend = new MemoryBackend();
    await backend.applyRuleset(ruleset("new"));
    expect(await commitConfirm(bus(true), backend, log, state(2), ruleset("old"), 1000)).toEqual({ confirmed: true });
    expect(backend.ruleset?.policies[0]?.name).toBe("new");
  });

  it.each([
    { answers: [false, true], blamed: true },
    { answers: [false, false], blamed: false },
  ])("restores the previous ruleset when the bus is silent (answers $answers: blamed $blamed)", async ({ answers, blamed }) => {
    const backend = new MemoryBackend();
    await backend.applyRuleset(ruleset("new"));
    const outcome = await commitConfirm(bus(...answers), backend, log, state(7), ruleset("old"), 2000);
    expect(outcome).toMatchObject({ confirmed: false, blamed, error: "revision 7 rolled back: the bus did not answer within 2 s of applying it" });
    expect(outcome.confirmed === false && outcome.restored).toBeTruthy();
    expect(backend.ruleset?.policies[0]?.name).toBe("old");
  });

  it("opens the host (no policy table) when there was no previous ruleset", async () => {
    const backend = new MemoryBackend();
    await backend.applyRuleset(ruleset("new"));
    const outcome = await commitConfirm(bus(false, false), backend, log, state(1), undefined, 1000);
    expect(outcome).toMatchObject({ confirmed: false, restored: { fingerprint: "absent" } });
    expect(backend.ruleset).toBeUndefined();
  });

  it("reports no restored state when the rollback is refused", async () => {
    const backend = new MemoryBackend();
    backend.refuseRulesets(true);
    const outcome = await commitConfirm(bus(false, true), backend, log, state(3), ruleset("old"), 1000);
    expect(outcome).toMatchObject({ confirmed: false, restored: undefined, blamed: true });
  });
});
