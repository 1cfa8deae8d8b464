import { parseCidr } from "@fleetwall/api";

/** Bounds of what the arbiter remembers about who reported what. */
export interface ReporterLogLimits {
  /** Reports older than this no longer count (ms). */
  windowMs: number;
  /** Addresses remembered at once; the least recently reported is forgotten first. */
  maxAddresses: number;
  /** Reporters remembered per address (a quorum needs only a few). */
  maxPerAddress: number;
  /** Reporters whose budget (their spends of the last 60 s) is tracked at once. */
  maxReporters: number;
  /**
   * Addresses one reporter's reports are kept for at once; past it, its own least recent report is
   * forgotten, so one host's flood cannot evict the others' reports from the `maxAddresses` bound.
   */
  maxPerReporter: number;
}

export const DEFAULT_REPORTER_LIMITS: ReporterLogLimits = { windowMs: 600_000, maxAddresses: 100_000, maxPerAddress: 32, maxReporters: 20_000, maxPerReporter: 2_000 };

/**
 * Who reported which address, within a window and a cap: an attack that reports a million
 * addresses costs at most `maxAddresses` entries, and each entry at most `maxPerAddress` hosts.
 * Also each reporter's budget of fleet bans it may cause alone in any 60 s (a sliding window, not
 * clock minutes: a burst across a minute's end gets the budget once, not twice). Maps keep insertion
 * order, so re-inserting on every report keeps the least recent first, for eviction.
 */
export class ReporterLog {
  readonly #byAddress = new Map<string, Map<string, number>>();
  /** Reporter → the addresses it is kept as a reporter of, least recent first. */
  readonly #byReporter = new Map<string, Set<string>>();
  /** Reporter → its spends still in the budget window, oldest first, at most its budget of them. */
  readonly #spent = new Map<string, Spend[]>();
  evicted = 0;
  /** Reports forgotten because their reporter was over `maxPerReporter`. */
  evictedOwn = 0;

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
    this.#byAddress.set(address, reporters);
    this.#note(host, address);
    if (reporters.size > this.limits.maxPerAddress) this.#drop(address, reporters.keys().next().value as string);
    while (this.#byAddress.size > this.limits.maxAddresses) {
      this.#forgetAddress(this.#byAddress.keys().next().value as string);
      this.evicted += 1;
    }
    return reporters;
  }

  /** Notes `host` as a reporter of `address`, forgetting its own least recent report past `maxPerReporter`. */
  #note(host: string, address: string): void {
    let mine = this.#byReporter.get(host);
    if (!mine) this.#byReporter.set(host, (mine = new Set()));
    mine.delete(address);
    mine.add(address);
    if (mine.size > this.limits.maxPerReporter) {
      this.#drop(mine.values().next().value as string, host);
      this.evictedOwn += 1;
    }
  }

  /** Forgets `host`'s report of `address` (and the address, when no report is left). */
  #drop(address: string, host: string): void {
    const reporters = this.#byAddress.get(address);
    reporters?.delete(host);
    if (reporters?.size === 0) this.#byAddress.delete(address);
    const mine = this.#byReporter.get(host);
    mine?.delete(address);
    if (mine?.size === 0) this.#byReporter.delete(host);
  }

  #forgetAddress(address: string): void {
    for (const host of [...(this.#byAddress.get(address)?.keys() ?? [])]) this.#drop(address, host);
    this.#byAddress.delete(address);
  }

  forget(address: string): void {
    this.#forgetAddress(address);
  }

  /** Addresses `host` is kept as a reporter of. */
  reportsOf(host: string): number {
    return this.#byReporter.get(host)?.size ?? 0;
  }

  /** Forgets addresses with no report inside the window. */
  prune(nowMs: number): void {
    const since = nowMs - this.limits.windowMs;
    for (const [address, reporters] of this.#byAddress) {
      for (const [host, at] of reporters) if (at < since) this.#drop(address, host);
    }
    for (const [host, spends] of this.#spent) {
      const live = inWindow(spends, nowMs);
      if (live.length === 0) this.#spent.delete(host);
      else if (live.length < spends.length) this.#spent.set(host, live);
    }
  }

  /**
   * Fleet bans `host` may still cause alone now, its spends of the last BUDGET_WINDOW_MS counted, for
   * an address whose budget unit is `unit` (budgetUnit): each PER_UNIT_PER_MINUTE addresses of one
   * unit cost one, so an attacker with one /64 uses one unit of an honest host's budget, not all of it.
   */
  budgetLeft(host: string, perMinute: number, nowMs: number, unit?: string): number {
    const live = inWindow(this.#spent.get(host) ?? [], nowMs);
    // a unit's part-used share: free
    if (unit !== undefined && openShare(live, unit)) return 1;
    return Math.max(0, perMinute - live.length);
  }

  /**
   * Spends one of `host`'s budget of `perMinute` (or one more address of a unit spent within the
   * window, while its share lasts). At most `perMinute` spends are kept per reporter: past it, the
   * oldest is forgotten (the caller checks budgetLeft first, so that happens only when it did not).
   */
  charge(host: string, perMinute: number, nowMs: number, unit = `#${nowMs}-${Math.random()}`): void {
    const live = inWindow(this.#spent.get(host) ?? [], nowMs);
    this.#spent.delete(host);
    const share = openShare(live, unit);
    if (share) share.addresses += 1;
    else live.push({ atMs: nowMs, unit, addresses: 1 });
    while (live.length > Math.max(1, perMinute)) live.shift();
    this.#spent.set(host, live);
    if (this.#spent.size > this.limits.maxReporters) this.#spent.delete(this.#spent.keys().next().value as string);
  }
}

/** How long a spend counts against its reporter's budget (ms): a sliding minute. */
export const BUDGET_WINDOW_MS = 60_000;

/** One unit of a reporter's budget spent: when, on which unit, and how many of its addresses so far. */
interface Spend {
  atMs: number;
  unit: string;
  addresses: number;
}

/** The spends that still count at `nowMs` (made less than BUDGET_WINDOW_MS ago). Pure. */
function inWindow(spends: Spend[], nowMs: number): Spend[] {
  return spends.filter((s) => nowMs - s.atMs < BUDGET_WINDOW_MS);
}

/** The spend of `unit` that has room for another address, if any. Pure. */
function openShare(live: Spend[], unit: string): Spend | undefined {
  return live.find((s) => s.unit === unit && s.addresses < PER_UNIT_PER_MINUTE);
}

/** Addresses of one budget unit that one spend covers: one reporter's fleet bans alone in a unit, per unit of its budget. */
export const PER_UNIT_PER_MINUTE = 16;

/** The budget unit of an address: its /64 for IPv6 (one subscriber's network), the address itself for IPv4. Pure. */
export function budgetUnit(address: string): string {
  const c = parseCidr(address);
  return c.family === "ip6" && c.prefix > 64 ? parseCidr(`${c.text.split("/")[0]}/64`).text : c.text;
}
