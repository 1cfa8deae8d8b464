/** Most distinct keys a throttle tracks; further keys share one. */
export const THROTTLE_MAX_KEYS = 256;
const OTHER = "(other)";

/**
 * One log line per key per interval: the first occurrence passes at once, the rest of the interval
 * are counted, and `due` hands on the counts whose interval ended (the caller logs each with its
 * count). A flood of one bad message costs a line per interval, not a line per message. Pure; time
 * is passed in.
 */
export class LogThrottle {
  readonly #keys = new Map<string, { since: number; suppressed: number }>();

  constructor(private readonly intervalMs: number) {}

  /** True when a line for `key` should be written now; otherwise it is counted. */
  pass(key: string, nowMs: number): boolean {
    const k = this.#keys.has(key) || this.#keys.size < THROTTLE_MAX_KEYS ? key : OTHER;
    const e = this.#keys.get(k);
    if (e && nowMs - e.since < this.intervalMs) {
      e.suppressed += 1;
      return false;
    }
    this.#keys.set(k, { since: nowMs, suppressed: k === key ? 0 : 1 });
    return k === key;
  }

  /** True while some key has lines held back. */
  get holding(): boolean {
    for (const e of this.#keys.values()) if (e.suppressed > 0) return true;
    return false;
  }

  /** The keys whose interval ended with lines held back, and how many; each is forgotten. */
  due(nowMs: number): { key: string; suppressed: number }[] {
    const out: { key: string; suppressed: number }[] = [];
    for (const [key, e] of this.#keys) {
      if (nowMs - e.since < this.intervalMs) continue;
      if (e.suppressed > 0) out.push({ key, suppressed: e.suppressed });
      this.#keys.delete(key);
    }
    return out;
  }
}

/** The logger methods ThrottledLines writes with (a pino Logger has them). */
interface LineSink {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

/**
 * One kind of per-message log line, throttled: the first line of each key (a reason) in an interval
 * is written as it comes; the rest are counted and, when the interval ends, written as one line
 * `summary` with the key and the count (`{reason, suppressed}`). A timer, armed only while lines are
 * held back and never keeping the process alive, writes the summaries; `close` clears it.
 */
export class ThrottledLines {
  readonly #throttle: LogThrottle;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: LineSink,
    private readonly summary: string,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {
    this.#throttle = new LogThrottle(intervalMs);
  }

  /** Writes `msg` with `fields` at `level` unless a line of `key` was written in this interval; true when written. */
  write(level: "info" | "warn", key: string, fields: object, msg: string): boolean {
    if (this.#throttle.pass(key, this.now())) {
      this.log[level](fields, msg);
      return true;
    }
    this.#arm();
    return false;
  }

  /** Writes the summaries of the intervals that ended (`all`: of every interval, as at a stop). */
  flush(all = false): void {
    for (const { key, suppressed } of this.#throttle.due(all ? Infinity : this.now())) this.log.warn({ reason: key, suppressed, intervalMs: this.intervalMs }, this.summary);
  }

  #arm(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush();
      if (this.#throttle.holding) this.#arm();
    }, this.intervalMs + 10);
    this.#timer.unref();
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.flush(true);
  }
}

const dropped = new WeakMap<LineSink, ThrottledLines>();

/**
 * Writes a line about a message from the bus that was dropped (refused, malformed, replayed): the
 * first per reason (numbers ignored) every 10 s, then a count. A flood of bad messages is the
 * attacker's to choose; the log's growth is not.
 */
export function logDropped(log: LineSink, fields: { reason?: string | undefined; [field: string]: unknown }, msg: string): void {
  let lines = dropped.get(log);
  if (!lines) dropped.set(log, (lines = new ThrottledLines(log, "messages dropped, not logged one by one")));
  lines.write("warn", `${msg}: ${(fields.reason ?? "").replace(/\d[-\d:.TZ]*/g, "#")}`, fields, msg);
}
