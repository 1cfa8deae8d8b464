/** Bounds of what the arbiter remembers about who reported what. */
export interface ReporterLogLimits {
  /** Reports older than this no longer count (ms). */
  windowMs: number;
  /** Addresses remembered at once; the least recently reported is forgotten first. */
  maxAddresses: number;
  /** Reporters remembered per address (a quorum needs only a few). */
  maxPerAddress: number;
  /** Reporters whose per-minute budget is tracked at once. */
  maxReporters: number;
}

export const DEFAULT_REPORTER_LIMITS: ReporterLogLimits = { windowMs: 600_000, maxAddresses: 100_000, maxPerAddress: 32, maxReporters: 20_000 };

/**
 * Who reported which address, within a window and a cap: an attack that reports a million
 * addresses costs at most `maxAddresses` entries, and each entry at most `maxPerAddress` hosts.
 * Also each reporter's budget of fleet bans it may cause alone, per minute. Maps keep insertion
 * order, so re-inserting on every report keeps the least recent first, for eviction.
 */
export class ReporterLog {
  readonly #byAddress = new Map<string, Map<string, number>>();
  readonly #spent = new Map<string, { minute: number; used: number }>();
  evicted = 0;

  constructor(private readonly limits: ReporterLogLimits = DEFAULT_REPORTER_LIMITS) {}

  get size(): number {
    return this.#byAddress.size;
  }

  /** Records a report (its time clamped to now: a host cannot keep a report alive by dating it ahead) and returns the address's reporters. */
  record(address: string, host: string, atMs: number, nowMs: number): ReadonlyMap<string, number> {
    const reporters = this.#byAddress.get(address) ?? new Map<string, number>();
    this.#byAddress.delete(address);
    reporters.delete(host);
    reporters.set(host, Math.min(Number.isFinite(atMs) ? atMs : nowMs, nowMs));
    if (reporters.size > this.limits.maxPerAddress) reporters.delete(reporters.keys().next().value as string);
    this.#byAddress.set(address, reporters);
    while (this.#byAddress.size > this.limits.maxAddresses) {
      this.#byAddress.delete(this.#byAddress.keys().next().value as string);
      this.evicted += 1;
    }
    return reporters;
  }

  forget(address: string): void {
    this.#byAddress.delete(address);
  }

  /** Forgets addresses with no report inside the window. */
  prune(nowMs: number): void {
    const since = nowMs - this.limits.windowMs;
    for (const [address, reporters] of this.#byAddress) {
      for (const [host, at] of reporters) if (at < since) reporters.delete(host);
      if (reporters.size === 0) this.#byAddress.delete(address);
    }
    const minute = Math.floor(nowMs / 60_000);
    for (const [host, s] of this.#spent) if (s.minute < minute) this.#spent.delete(host);
  }

  /** Fleet bans `host` may still cause alone in the current minute. */
  budgetLeft(host: string, perMinute: number, nowMs: number): number {
    const s = this.#spent.get(host);
    return s && s.minute === Math.floor(nowMs / 60_000) ? Math.max(0, perMinute - s.used) : perMinute;
  }

  /** Spends one of `host`'s budget. */
  charge(host: string, nowMs: number): void {
    const minute = Math.floor(nowMs / 60_000);
    const s = this.#spent.get(host);
    this.#spent.delete(host);
    this.#spent.set(host, s && s.minute === minute ? { minute, used: s.used + 1 } : { minute, used: 1 });
    if (this.#spent.size > this.limits.maxReporters) this.#spent.delete(this.#spent.keys().next().value as string);
  }
}
