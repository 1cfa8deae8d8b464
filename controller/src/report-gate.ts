/**
 * How many reports the controller reads from each host: a token bucket per host, taken before the
 * report is parsed (its host comes from the subject). An agent reports on each heartbeat and on
 * change; a host past its bucket has the excess dropped and counted, so one agent cannot keep the
 * controller parsing. Pure: time is passed in.
 */

/** Reports a host may send at once (a burst of changes: a policy applied, bans, lifts). */
export const REPORT_BURST = 10;
/** Tokens a host earns per heartbeat it declares (at least one a second). */
export const REPORTS_PER_HEARTBEAT = 2;
/** The heartbeat assumed until a host has declared its own (the agent's default). */
export const DEFAULT_HEARTBEAT_MS = 10_000;
/** Hosts the gate remembers at once; the least recently heard of is forgotten first. */
export const MAX_GATED_HOSTS = 20_000;

interface Bucket {
  tokens: number;
  at: number;
  /** Milliseconds per token earned. */
  perTokenMs: number;
}

export class ReportGate {
  readonly #hosts = new Map<string, Bucket>();
  /** Reports dropped for coming too fast, in all. */
  dropped = 0;

  constructor(private readonly maxHosts = MAX_GATED_HOSTS) {}

  /** Whether a report of `host` arriving at `now` is read; a refused one is counted. */
  take(host: string, now: number): boolean {
    const b = this.#hosts.get(host) ?? { tokens: REPORT_BURST, at: now, perTokenMs: tokenMs(DEFAULT_HEARTBEAT_MS) };
    this.#hosts.delete(host);
    this.#hosts.set(host, b);
    if (this.#hosts.size > this.maxHosts) this.#hosts.delete(this.#hosts.keys().next().value as string);
    b.tokens = Math.min(REPORT_BURST, b.tokens + Math.max(0, now - b.at) / b.perTokenMs);
    b.at = now;
    if (b.tokens < 1) {
      this.dropped += 1;
      return false;
    }
    b.tokens -= 1;
    return true;
  }

  /** The heartbeat a host's accepted report declared: its bucket refills at REPORTS_PER_HEARTBEAT per heartbeat. */
  heartbeat(host: string, heartbeatMs: number | undefined): void {
    const b = this.#hosts.get(host);
    if (b && heartbeatMs) b.perTokenMs = tokenMs(heartbeatMs);
  }

  forget(host: string): void {
    this.#hosts.delete(host);
  }

  get size(): number {
    return this.#hosts.size;
  }
}

function tokenMs(heartbeatMs: number): number {
  return Math.min(1000, Math.max(1, heartbeatMs) / REPORTS_PER_HEARTBEAT);
}
