import { ThrottledLines } from "@fleetwall/runtime";
import type { Logger } from "pino";

/** One line per host every minute at most: a host that keeps reporting unregistered is said once a minute. */
const INTERVAL_MS = 60_000;

/**
 * Says when a host reports but is not registered: an operator ran `hosts delete --force` while its
 * agent ran (the agent keeps enforcing its last state, but gets no updates and is no longer
 * protected from bans), or its registration was lost. Throttled per host; hosts are bounded by the
 * agents' nkeys (only a host's own nkey publishes its reports).
 */
export class UnregisteredReports {
  readonly #lines: ThrottledLines;

  constructor(
    log: Logger,
    private readonly registered: (hostId: string) => boolean,
    intervalMs = INTERVAL_MS,
    now: () => number = Date.now,
  ) {
    this.#lines = new ThrottledLines(log, "reports of unregistered hosts not logged one by one", intervalMs, now);
  }

  /** True when `hostId` is registered; otherwise says so (throttled). */
  check(hostId: string): boolean {
    if (this.registered(hostId)) return true;
    this.#lines.write("warn", hostId, { host: hostId, fix: "restart its agent to register it again, or revoke its nkey if it was decommissioned" }, "a host that is not registered reports: it gets no desired-state updates and its addresses are not protected from bans");
    return false;
  }
}
