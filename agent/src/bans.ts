import { BAN_EPOCH_MS, REPORT_LOCAL_BANS_LIMIT, CidrSet, banEpoch, embeddedIPv4, expirySeconds, heldAt, parseCidr } from "@fleetwall/api";
import type { Logger } from "pino";
import type { FirewallBackend } from "./backend.js";
import { BanBelief } from "./bans-belief.js";
import { BanChanges } from "./bans-changes.js";
import { BanKernel } from "./bans-kernel.js";
import type { BanEntry, BanTruth } from "./bans-decision.js";
import { LocalBans, type LocalBan } from "./bans-local.js";
import { FULL_CHECK_MAX, listingDiffers, rebuildContent, spotPicks } from "./bans-rebuild.js";

export * from "./bans-decision.js";
export type { LocalBan } from "./bans-local.js";

/** Who asked for a protection: the host itself (management, own and NATS addresses) or the fleet's list. */
export type ProtectScope = "own" | "fleet";
const protectKey = (text: string, scope: ProtectScope) => `_${scope}.${text.replace(/[:/]/g, "_")}`;

export interface BanSyncOptions {
  /** Most set changes in one transaction. */
  maxBatch?: number;
  now?: () => number;
  /** Length of the digest's epochs (api/ban-digest.ts); tests make it short. */
  epochMs?: number;
}

/**
 * Keeps the kernel's ban sets equal to the decisions this host holds (`BanBelief`) and its own local
 * bans. Changes mark elements; a flush turns them into one transaction at a time (a single ban goes
 * out at once, many in a few large batches). Interval sets are planned as a whole so no element
 * overlaps another. Until the first complete read of the bucket (`synced`), decisions only fill the
 * belief; then the bans table is rebuilt to hold exactly them, so what changed while the agent was
 * away (deletes included) is right. A batch nft refuses is halved until the bad element is found;
 * it stays listed as refused until it goes in or goes away.
 */
export class BanSync {
  readonly #belief: BanBelief;
  readonly #local = new LocalBans();
  #loading = true;
  readonly #changes = new BanChanges();
  readonly #kernel: BanKernel;
  #replanAt = new Map<string, number>();
  #replanTimer: NodeJS.Timeout | undefined;
  #allowSet: CidrSet | undefined;
  #flushing: Promise<void> | undefined;
  #rebuilding: Promise<void> | undefined;
  rebuilds = 0;
  /** Told the local bans (JSON) whenever they change, to keep them in the state directory. */
  saveLocal: ((json: string) => void) | undefined;
  readonly #now: () => number;
  readonly #epochMs: number;

  constructor(
    private readonly backend: FirewallBackend,
    private readonly log: Logger,
    private readonly options: BanSyncOptions = {},
  ) {
    this.#now = options.now ?? Date.now;
    this.#epochMs = options.epochMs ?? BAN_EPOCH_MS;
    this.#belief = new BanBelief(this.#epochMs);
    this.#kernel = new BanKernel(backend, log, this.#now);
  }

  /** Makes the bans table when missing; an existing one (and its bans) stays until the bucket has been read. */
  async ensureTable(): Promise<void> {
    if (await this.backend.ensureTables()) this.log.info("bans table created");
    if (!this.#loading) await this.rebuild("bans table was missing");
  }

  /** Restores the local bans saved in the state directory. */
  restoreLocal(json: string | undefined): number {
    const n = this.#local.restore(json, this.#now());
    for (const b of this.#local.list()) this.#changes.touchLocal(b.address);
    if (n > 0) void this.#schedule();
    return n;
  }

  get activeBans(): number {
    return this.#belief.denies + this.#local.size;
  }
  get errors(): number {
    return this.#kernel.errors;
  }
  get applied(): number {
    return this.#kernel.applied;
  }
  get loading(): boolean {
    return this.#loading;
  }

  /**
   * True when an allow entry in force covers `address`, or lies inside it when it is a network; an
   * IPv6 form of an IPv4 address (NAT64, 6to4, Teredo: `embeddedIPv4`) counts as that address.
   */
  allowed(address: string): boolean {
    if (this.#belief.allows.size === 0) return false;
    this.#allowSet ??= new CidrSet([...this.#belief.allows.values()].map((e) => parseCidr(e.element)));
    const c = parseCidr(address);
    return this.#allowSet.overlaps(c) || embeddedIPv4(c).some((e) => (this.#allowSet as CidrSet).overlaps(e.v4));
  }

  /** Records what the decision under `key` asks of this host now (undefined: nothing) and schedules the kernel change. Takes ownership of `entry`. */
  set(key: string, entry: BanEntry | undefined): Promise<void> {
    const now = this.#now();
    // expiries are kept in whole seconds, rounded up (the kernel's timeouts are seconds too); the entry is ours
    if (entry && entry.expiresAt !== Infinity) entry.expiresAt = expirySeconds(entry.expiresAt) * 1000;
    const live = entry && heldAt(expirySeconds(entry.expiresAt), banEpoch(now, this.#epochMs)) ? entry : undefined;
    const before = this.#belief.get(key);
    if (!before && !live) return this.#flushing ?? Promise.resolve();
    if (before && live && before.kind === live.kind && before.element === live.element && expirySeconds(before.expiresAt) === expirySeconds(live.expiresAt)) return this.#flushing ?? Promise.resolve();
    // held by another key already (then it is in the kernel, or its removal is queued): not a plain add
    const held = live?.kind === "ban" && this.#belief.heldByOthers(key, live.element);
    this.#belief.set(key, live, before);
    if (before?.kind === "allow" || live?.kind === "allow") this.#allowSet = undefined;
    if (this.#loading) return Promise.resolve();
    if (before) this.#changes.touch(before, false);
    if (live) this.#changes.touch(live, !held);
    return this.#schedule();
  }

  /**
   * Allows `cidr` on this host whatever is banned (its management sources): an allow entry of its
   * own, kept through rebuilds, not a decision (so not in the digest the host reports).
   */
  protect(cidr: string, scope: ProtectScope = "own"): Promise<void> {
    const c = parseCidr(cidr);
    const key = protectKey(c.text, scope);
    this.#belief.own(key);
    return this.set(key, { kind: "allow", family: c.family, element: c.text, expiresAt: Infinity });
  }

  /** Takes back a protection `protect` gave (the fleet's list no longer has it). */
  async unprotect(cidr: string, scope: ProtectScope): Promise<void> {
    const key = protectKey(parseCidr(cidr).text, scope);
    await this.set(key, undefined);
    this.#belief.disown(key);
  }

  /** A ban by this host's own jail, for `seconds`. */
  setLocal(jail: string, address: string, seconds: number): Promise<void> {
    this.#local.add(jail, address, this.#now() + seconds * 1000);
    this.#changes.touchLocal(address);
    this.saveLocal?.(this.#local.toJSON());
    return this.#schedule();
  }

  /** Lifts this host's own ban of `address`; the ban lifted, if there was one. */
  liftLocal(address: string): LocalBan | undefined {
    const had = this.#local.lift(address);
    if (!had) return undefined;
    this.#changes.touchLocal(address);
    this.saveLocal?.(this.#local.toJSON());
    void this.#schedule();
    return had;
  }

  /** The bucket has been read to its end: from now on the kernel follows the decisions, starting from exactly them. */
  async synced(): Promise<void> {
    if (!this.#loading) return;
    this.#loading = false;
    await this.rebuild("bucket read");
  }

  /**
   * Replaces the bans table by one that holds exactly what this host holds, each element with its
   * remaining time, in one transaction (a million addresses: about 4 s of nft). If nft refuses it,
   * the table is made empty and filled by batches, so only the bad element is left out. Runs alone:
   * flushes wait for it, and it for them.
   */
  async rebuild(why: string): Promise<void> {
    while (this.#rebuilding || this.#flushing) {
      await this.#rebuilding;
      await this.#flushing;
    }
    this.#rebuilding = this.#rebuildNow(why);
    try {
      await this.#rebuilding;
    } finally {
      this.#rebuilding = undefined;
    }
    this.rebuilds += 1;
    await this.#schedule();
  }

  async #rebuildNow(why: string): Promise<void> {
    const { elements, plans, replanAt } = rebuildContent(this.#belief, this.#local.list(), this.#now());
    this.#replanAt = replanAt;
    this.#changes.clear();
    try {
      await this.#kernel.replace(elements, plans);
      this.log.info({ why, elements: elements.length }, "bans table rebuilt");
    } catch (error) {
      this.log.error({ why, err: error }, "bans table rebuild refused; filling it by batches");
      await this.#kernel.replace([], new Map());
      this.#changes.touchAll(this.#belief, this.#local);
    }
  }

  /**
   * Compares the bans table with what the agent made (its layout, never its elements: a million take
   * half a minute to list) and spot-checks a few elements; rebuilds it when anything is off. True when repaired.
   */
  async checkDrift(samples = 4): Promise<boolean> {
    if (this.#loading) return false;
    const intact = await this.backend.bansTableIntact();
    const missing = intact ? await this.#spotCheck(samples) : undefined;
    if (intact && !missing) return false;
    this.log.warn({ missing }, intact ? "ban element missing from the kernel; rebuilding" : "bans table missing or changed; rebuilding");
    await this.backend.ensureTables();
    await this.rebuild("drift");
    return true;
  }

  /** What the kernel lacks or holds unasked: all compared when small, else the first of a few held elements missing. */
  async #spotCheck(samples: number): Promise<string | undefined> {
    // an element about to expire may be gone by the time it is asked for
    const soon = this.#now() + 2_000;
    if (this.activeBans + this.#belief.allows.size + this.#local.size <= FULL_CHECK_MAX) {
      const listing = await this.backend.listBans();
      return listing && listingDiffers(rebuildContent(this.#belief, this.#local.list(), this.#now()).elements, listing, this.#kernel.refused, 2_000);
    }
    const picks = spotPicks(this.#belief, this.#kernel, this.#local.list(), samples);
    for (const p of picks) {
      if (p.expiresAt <= soon || this.#kernel.refused.has(`${p.kind} ${p.element}`)) continue;
      if (!(await this.backend.hasElement(p.kind, p.family, p.element))) return `${p.kind} ${p.element}`;
    }
    return undefined;
  }

  /** What this host holds of its own and what nft refused ("kind element" → reason), for an operator's element listing. */
  held(): { loading: boolean; size: number; refused: ReadonlyMap<string, string>; local: LocalBan[]; own: BanEntry[] } {
    return { loading: this.#loading, size: this.activeBans + this.#belief.allows.size, refused: this.#kernel.refused, local: this.#local.list().filter((b) => b.expiresAt > this.#now()), own: this.#belief.ownEntries() };
  }

  /** What this host holds, for its report; expired entries are forgotten first. */
  truth(): BanTruth {
    const now = this.#now();
    const epoch = banEpoch(now, this.#epochMs);
    const expired = this.#belief.sweep(epoch);
    if (expired.some((e) => e.entry.kind === "allow")) this.#allowSet = undefined;
    if (this.#local.sweep(now).length > 0) this.saveLocal?.(this.#local.toJSON());
    const refused = [...this.#kernel.refused].map(([id, error]) => ({ element: id.slice(id.indexOf(" ") + 1), error }));
    return { epoch, loading: this.#loading, count: this.#belief.count, digest: this.#belief.digest, refused: refused.slice(0, 20), refusedTotal: refused.length, local: this.#local.list().slice(0, REPORT_LOCAL_BANS_LIMIT), localTotal: this.#local.size };
  }

  #schedule(): Promise<void> {
    this.#flushing ??= (async () => {
      await Promise.resolve();
      await this.#rebuilding;
      while (this.#changes.pending) {
        const { intervals, singles, replanAt } = this.#changes.take(this.#belief, this.#local, this.#kernel, this.#now());
        for (const [id, at] of replanAt) this.#replanAt.set(id, at);
        // an interval set's changes stay in one batch: a network goes in once those it covers left
        const batch = this.options.maxBatch ?? 50_000;
        const first = Math.max(1, batch - intervals.length);
        await this.#kernel.apply([...intervals, ...singles.slice(0, first)]);
        for (let i = first; i < singles.length; i += batch) await this.#kernel.apply(singles.slice(i, i + batch));
      }
      this.#flushing = undefined;
      this.#armReplan();
    })();
    return this.#flushing;
  }

  /** Plans interval sets again when an element left out for lying inside another must now go in. */
  #armReplan(): void {
    clearTimeout(this.#replanTimer);
    const at = Math.min(...this.#replanAt.values());
    if (at === Infinity || this.#loading) return;
    this.#replanTimer = setTimeout(() => this.replanDue(), Math.max(0, at - this.#now()) + 50);
    this.#replanTimer.unref();
  }

  /** Marks for planning every interval set whose replan time has come (the timer calls it; tests too). */
  replanDue(): Promise<void> {
    const now = this.#now();
    for (const [id, at] of this.#replanAt) if (at <= now) this.#changes.touchInterval(id);
    return this.#changes.intervalsPending ? this.#schedule() : Promise.resolve();
  }

  /** Resolves when everything queued so far is in the kernel. */
  async idle(): Promise<void> {
    while (this.#flushing || this.#rebuilding) {
      await this.#rebuilding;
      await this.#flushing;
    }
  }

  close(): void {
    clearTimeout(this.#replanTimer);
  }
}
