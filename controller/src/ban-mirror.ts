import { parseCidr, type BanDecision, type Cidr } from "@fleetwall/api";

/**
 * The controller's copy of the bans bucket, fed only by the bucket's watch: decisions by key, seals
 * with when this controller first saw them, which seal each decision uses, and the allowlist in force.
 * Writers wait for the watch to deliver what they wrote (`waitForRevision`) instead of writing here.
 */
export class BanMirror {
  readonly #decisions = new Map<string, BanDecision>();
  readonly #seals = new Map<string, number>();
  readonly #sealOf = new Map<string, string>();
  #allowCache: { cidr: Cidr; expires: number }[] | undefined;
  #allowLive: { cidrs: Cidr[]; until: number } | undefined;
  #revision = 0;
  #waiters: { revision: number; resolve: () => void }[] = [];
  /** Called when an Allow decision comes or goes (protections changed). */
  onAllowChange: (() => void) | undefined;

  constructor(private readonly now: () => number = Date.now) {}

  get decisions(): ReadonlyMap<string, BanDecision> {
    return this.#decisions;
  }

  get seals(): ReadonlyMap<string, number> {
    return this.#seals;
  }

  get sealOf(): ReadonlyMap<string, string> {
    return this.#sealOf;
  }

  /** The last bucket revision delivered. */
  get revision(): number {
    return this.#revision;
  }

  onEntry(key: string, decision: BanDecision | null, seal?: string, revision?: number): void {
    if (decision?.type === "Allow" || this.#decisions.get(key)?.type === "Allow") {
      this.#allowCache = this.#allowLive = undefined;
      this.onAllowChange?.();
    }
    if (decision) this.#decisions.set(key, decision);
    else this.#decisions.delete(key);
    if (decision && seal) this.#sealOf.set(key, seal);
    else this.#sealOf.delete(key);
    if (revision !== undefined) this.#advance(revision);
  }

  /** A seal appeared in (or left) the bucket. */
  onSeal(id: string, present: boolean, revision?: number): void {
    if (present) {
      if (!this.#seals.has(id)) this.#seals.set(id, this.now());
    } else this.#seals.delete(id);
    if (revision !== undefined) this.#advance(revision);
  }

  #advance(revision: number): void {
    this.#revision = Math.max(this.#revision, revision);
    if (this.#waiters.length === 0) return;
    const done = this.#waiters.filter((w) => w.revision <= this.#revision);
    this.#waiters = this.#waiters.filter((w) => w.revision > this.#revision);
    for (const w of done) w.resolve();
  }

  /** Resolves once the watch has delivered `revision` (true), or after `timeoutMs` (false). */
  waitForRevision(revision: number, timeoutMs = 5_000): Promise<boolean> {
    if (revision <= this.#revision) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      timer.unref?.();
      const waiter = { revision, resolve: () => (clearTimeout(timer), resolve(true)) };
      this.#waiters.push(waiter);
    });
  }

  /** Allowlisted networks in force; the list is rebuilt only when an Allow decision changes or one expires. */
  allow(): Cidr[] {
    const nowMs = this.now();
    this.#allowCache ??= [...this.#decisions.values()].filter((d) => d.type === "Allow").map((d) => ({ cidr: parseCidr(d.cidr), expires: d.expiresAt ? Date.parse(d.expiresAt) : Infinity }));
    // the same array until an entry expires: the arbiter keeps a lookup set per array
    if (!this.#allowLive || nowMs >= this.#allowLive.until) {
      const live = this.#allowCache.filter((a) => a.expires > nowMs);
      this.#allowLive = { cidrs: live.map((a) => a.cidr), until: live.reduce((m, a) => Math.min(m, a.expires), Infinity) };
    }
    return this.#allowLive.cidrs;
  }
}
