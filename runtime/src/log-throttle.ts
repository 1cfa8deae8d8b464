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
