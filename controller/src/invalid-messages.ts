import { LogThrottle } from "@fleetwall/runtime";
import type { Logger } from "pino";

/** Each reason for dropping a message is logged at most once this often, with a count of the rest. */
export const INVALID_LOG_INTERVAL_MS = 10_000;

/**
 * The controller's account of the messages it drops as malformed: a count by kind (the
 * fleetwall_controller_invalid_messages gauge) and a log line per reason per interval, the lines
 * held back in between logged as a count when the interval ends (`flush`). A flood of one bad
 * message costs a line every 10 s. Time is passed in.
 */
export class InvalidMessages {
  /** Messages dropped so far, by kind. */
  readonly counts: Record<string, number> = {};
  readonly #throttle: LogThrottle;

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    intervalMs = INVALID_LOG_INTERVAL_MS,
  ) {
    this.#throttle = new LogThrottle(intervalMs);
  }

  /** One message of `kind` dropped, for `reason`. */
  readonly drop = (kind: string, reason: string): void => {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
    if (this.#throttle.pass(`${kind}: ${reason}`, this.now())) this.log.warn({ kind, reason }, "invalid message dropped");
  };

  /** Logs the count of the lines held back for each reason whose interval ended. */
  flush(): void {
    for (const { key, suppressed } of this.#throttle.due(this.now())) this.log.warn({ key, suppressed }, "invalid messages dropped, not logged one by one");
  }

  /** Flushes every interval until `stop` is called (the timer does not keep the process alive). */
  start(intervalMs = INVALID_LOG_INTERVAL_MS): () => void {
    const timer = setInterval(() => this.flush(), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }
}
