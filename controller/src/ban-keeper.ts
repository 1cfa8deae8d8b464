import {
  SCHEMA_VERSION,
  banKey,
  canonicalJson,
  parseCidr,
  formatDuration,
  parseDuration,
  sealKey,
  sealPayloads,
  signPayload,
  type BanAddRequest,
  type BanImportRequest,
  type BanDecision,
  type BanList,
  type BanReply,
  type BanSignal,
  type Cidr,
  type SignedEnvelope,
  type SigningKey,
} from "@fleetwall/api";
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { z } from "zod";
import { arbitrate, protectedReason, type ArbiterConfig } from "./arbiter.js";

/** Bulk puts in flight at once (see BanKeeper.#slots): about half a second of the server's work here. */
const MAX_BULK_PUTS_IN_FLIGHT = 4096;
/** Puts started together once that many slots are free. */
const PUT_BURST = 256;

export interface BanSink {
  putBan(key: string, envelope: SignedEnvelope): Promise<void>;
  deleteBan(key: string): Promise<void>;
}

/** How long an expired jail decision is kept, so that a returning offender is escalated. */
const MEMORY_MS = 7 * 86400_000;

export interface BanListPlan {
  puts: BanDecision[];
  deletes: string[];
  skipped: { list: string; cidr: string; reason: string }[];
}

/**
 * What the bans bucket must change so that it holds exactly the BanLists' live entries. Pure.
 * A Deny entry that touches a protected address is skipped, never published.
 */
export function planBanLists(
  lists: readonly BanList[],
  current: ReadonlyMap<string, BanDecision>,
  isProtected: (cidr: Cidr) => string | undefined,
  nowMs: number,
): BanListPlan {
  const plan: BanListPlan = { puts: [], deletes: [], skipped: [] };
  const wanted = new Set<string>();
  for (const list of lists) {
    for (const entry of list.spec.entries) {
      const cidr = parseCidr(entry.cidr);
      const key = banKey(list.metadata.name, cidr.text);
      const existing = current.get(key);
      const createdAt = existing?.source === "BanList" ? existing.createdAt : new Date(nowMs).toISOString();
      const expiresAt = entry.expires
        ? new Date(entry.expires).toISOString()
        : entry.duration
          ? new Date(Date.parse(createdAt) + (parseDuration(entry.duration) as number) * 1000).toISOString()
          : null;
      if (expiresAt && Date.parse(expiresAt) <= nowMs) continue;
      if (list.spec.type === "Deny") {
        const why = isProtected(cidr);
        if (why) {
          plan.skipped.push({ list: list.metadata.name, cidr: cidr.text, reason: why });
          continue;
        }
      }
      wanted.add(key);
      const decision: BanDecision = {
        schemaVersion: SCHEMA_VERSION,
        list: list.metadata.name,
        type: list.spec.type,
        cidr: cidr.text,
        reason: entry.reason ?? "",
        scenario: "",
        origins: [],
        createdAt,
        expiresAt,
        offences: 1,
        source: "BanList",
        ...(list.spec.hostSelector ? { hostSelector: list.spec.hostSelector } : {}),
      };
      if (!existing || canonicalJson(existing) !== canonicalJson(decision)) plan.puts.push(decision);
    }
  }
  for (const [key, d] of current) if (d.source === "BanList" && !wanted.has(key)) plan.deletes.push(key);
  return plan;
}

/**
 * The controller's ban side: mirrors the bans bucket, arbitrates jail signals into fleet decisions,
 * keeps BanList resources and the bucket in step, serves operators' add/delete, and forgets expired
 * decisions. Every decision it writes is signed.
 */
export class BanKeeper {
  #current = new Map<string, BanDecision>();
  #reporters = new Map<string, Map<string, number>>();
  #lists: BanList[] = [];
  #hostCidrs = new Map<string, Cidr[]>();
  #hostList: Cidr[] | undefined;
  #allowCache: { cidr: Cidr; expires: number }[] | undefined;
  #allowLive: { cidrs: Cidr[]; until: number } | undefined;
  /** Seals in the bucket, with when this controller first saw them, and which seal each decision uses. */
  #seals = new Map<string, number>();
  #sealOf = new Map<string, string>();
  decisions = 0;
  skippedSignals = 0;
  #free = MAX_BULK_PUTS_IN_FLIGHT;
  #waiting: { want: number; resolve: () => void }[] = [];

  constructor(
    private readonly sink: BanSink,
    private readonly key: SigningKey,
    private readonly config: ArbiterConfig,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  onEntry(key: string, decision: BanDecision | null, seal?: string): void {
    if (decision?.type === "Allow" || this.#current.get(key)?.type === "Allow") this.#allowCache = this.#allowLive = undefined;
    if (decision) this.#current.set(key, decision);
    else this.#current.delete(key);
    if (decision && seal) this.#sealOf.set(key, seal);
    else this.#sealOf.delete(key);
  }

  /** A seal appeared in (or left) the bucket. */
  onSeal(id: string, present: boolean): void {
    if (present) {
      if (!this.#seals.has(id)) this.#seals.set(id, this.now());
    } else this.#seals.delete(id);
  }

  /** A host's registered addresses (null: the host is gone): never banned, as a fleet member. */
  setHostAddresses(hostId: string, addresses: readonly string[] | null): void {
    // parsed once per registration, not for the whole fleet on every one: 1,000 registrations cost 1,000 parses, not 1,000,000
    if (addresses) {
      this.#hostCidrs.set(
        hostId,
        addresses.flatMap((a) => {
          try {
            return [parseCidr(a)];
          } catch {
            return [];
          }
        }),
      );
    } else this.#hostCidrs.delete(hostId);
    this.#hostList = undefined;
  }

  get #hosts(): Cidr[] {
    this.#hostList ??= [...this.#hostCidrs.values()].flat();
    return this.#hostList;
  }

  setBanLists(lists: readonly BanList[]): void {
    this.#lists = [...lists];
  }

  get decisionsByKey(): ReadonlyMap<string, BanDecision> {
    return this.#current;
  }

  /** Allowlisted networks in force; the list is rebuilt only when an Allow decision changes. */
  #allow(): Cidr[] {
    const nowMs = this.now();
    this.#allowCache ??= [...this.#current.values()].filter((d) => d.type === "Allow").map((d) => ({ cidr: parseCidr(d.cidr), expires: d.expiresAt ? Date.parse(d.expiresAt) : Infinity }));
    // the same array until an entry expires: the arbiter keeps a lookup set per array
    if (!this.#allowLive || nowMs >= this.#allowLive.until) {
      const live = this.#allowCache.filter((a) => a.expires > nowMs);
      this.#allowLive = { cidrs: live.map((a) => a.cidr), until: live.reduce((m, a) => Math.min(m, a.expires), Infinity) };
    }
    return this.#allowLive.cidrs;
  }

  isProtected = (cidr: Cidr): string | undefined => protectedReason(cidr, { allow: this.#allow(), hosts: this.#hosts }, this.config);

  async #put(d: BanDecision): Promise<string> {
    const key = banKey(d.list, d.cidr);
    await this.sink.putBan(key, signPayload(this.key, JSON.stringify(d)));
    this.onEntry(key, d);
    this.decisions += 1;
    return key;
  }

  /**
   * Publishes many decisions under one seal per 5,000: the seal first, then the decisions, so an
   * agent following the bucket always knows a seal before the decisions that name it.
   */
  async #putMany(ds: readonly BanDecision[]): Promise<void> {
    for (let i = 0; i < ds.length; i += 5000) {
      const chunk = ds.slice(i, i + 5000);
      const id = `${this.now().toString(36)}-${randomBytes(6).toString("hex")}`;
      const { seal, envelopes } = sealPayloads(this.key, id, chunk.map((d) => JSON.stringify(d)));
      await this.sink.putBan(sealKey(id), seal);
      this.onSeal(id, true);
      const puts: Promise<void>[] = [];
      for (let j = 0; j < chunk.length; ) {
        // in bursts: puts started together leave in one write to the server
        const n = await this.#slots(Math.min(PUT_BURST, chunk.length - j));
        for (let k = j; k < j + n; k += 1) {
          const d = chunk[k] as BanDecision;
          const key = banKey(d.list, d.cidr);
          const put = this.sink
            .putBan(key, envelopes[k] as SignedEnvelope)
            .then(() => {
              this.onEntry(key, d, id);
              this.decisions += 1;
            })
            .finally(() => this.#release());
          put.catch(() => undefined); // handled by the Promise.all below, perhaps after later puts start
          puts.push(put);
        }
        j += n;
      }
      await Promise.all(puts);
    }
  }

  /**
   * Bulk puts in flight to the bucket at once, across all imports and list syncs: more only wait in
   * the server, and past the publish timeout they fail (ten concurrent imports of 1,000 on a loaded
   * controller did).
   * Single decisions (fleet bans, `bans add`) do not wait for a slot.
   */
  async #slots(want: number): Promise<number> {
    if (this.#free >= want && this.#waiting.length === 0) this.#free -= want;
    else await new Promise<void>((resolve) => this.#waiting.push({ want, resolve })); // granted by #release
    return want;
  }

  #release(): void {
    this.#free += 1;
    // waiters in order, each once its whole burst is free
    for (let next = this.#waiting[0]; next && next.want <= this.#free; next = this.#waiting[0]) {
      this.#waiting.shift();
      this.#free -= next.want;
      next.resolve();
    }
  }

  /** One chunk of an import: every entry checked like a manual ban, then published under seals. */
  async import(req: z.infer<typeof BanImportRequest>): Promise<BanReply> {
    const tooLong = this.#durationProblem(req.durationSeconds);
    if (tooLong) return { ok: false, error: tooLong, keys: [] };
    const nowMs = this.now();
    const createdAt = new Date(nowMs).toISOString();
    const expiresAt = req.durationSeconds ? new Date(nowMs + req.durationSeconds * 1000).toISOString() : null;
    const refused: { cidr: string; reason: string }[] = [];
    const decisions: BanDecision[] = [];
    for (const text of req.entries) {
      let cidr: Cidr;
      try {
        cidr = parseCidr(text);
      } catch {
        refused.push({ cidr: text, reason: "not an address or CIDR" });
        continue;
      }
      const why = this.isProtected(cidr);
      if (why) {
        refused.push({ cidr: cidr.text, reason: why });
        continue;
      }
      decisions.push({
        schemaVersion: SCHEMA_VERSION,
        list: req.list,
        type: "Deny",
        cidr: cidr.text,
        reason: req.reason,
        scenario: "import",
        origins: [],
        createdAt,
        expiresAt,
        offences: 1,
        source: "cli",
      });
    }
    await this.#putMany(decisions);
    return { ok: true, keys: [], published: decisions.length, refused };
  }

  async onSignal(signal: BanSignal): Promise<void> {
    const nowMs = this.now();
    const reporters = this.#reporters.get(signal.address) ?? new Map<string, number>();
    reporters.set(signal.hostId, Date.parse(signal.at) || nowMs);
    this.#reporters.set(signal.address, reporters);
    const key = banKey(`jail-${signal.jail}`, signal.address);
    const verdict = arbitrate(signal, { allow: this.#allow(), hosts: this.#hosts, previous: this.#current.get(key), reporters }, this.config, nowMs);
    if ("skip" in verdict) {
      this.skippedSignals += 1;
      this.log.info({ address: signal.address, jail: signal.jail, host: signal.hostId, reason: verdict.skip }, "signal not turned into a fleet ban");
      return;
    }
    await this.#put(verdict.ban);
    this.#reporters.delete(signal.address);
    this.log.warn({ address: verdict.ban.cidr, jail: signal.jail, expiresAt: verdict.ban.expiresAt, offences: verdict.ban.offences }, "fleet ban");
  }

  /** Brings BanList decisions in line with the resources. */
  async syncBanLists(): Promise<BanListPlan> {
    const plan = planBanLists(this.#lists, this.#current, this.isProtected, this.now());
    for (const s of plan.skipped) this.log.warn(s, "BanList entry not published");
    if (plan.puts.length > 16) await this.#putMany(plan.puts);
    else for (const d of plan.puts) await this.#put(d);
    for (const key of plan.deletes) {
      await this.sink.deleteBan(key);
      this.onEntry(key, null);
    }
    return plan;
  }

  /** Why a requested ban duration is refused: longer than `--max-ban`, the longest ban this controller grants. */
  #durationProblem(seconds: number | null): string | undefined {
    if (seconds === null || seconds <= this.config.maxBanSeconds) return undefined;
    return `a ban of ${formatDuration(seconds * 1000)} is longer than the controller allows (--max-ban ${formatDuration(this.config.maxBanSeconds * 1000)})`;
  }

  async add(req: z.infer<typeof BanAddRequest>): Promise<BanReply> {
    const tooLong = this.#durationProblem(req.durationSeconds);
    if (tooLong) return { ok: false, error: tooLong, keys: [] };
    let cidr: Cidr;
    try {
      cidr = parseCidr(req.cidr);
    } catch {
      return { ok: false, error: `${req.cidr} is not an address or CIDR`, keys: [] };
    }
    const why = this.isProtected(cidr);
    if (why) return { ok: false, error: `${cidr.text} is not banned: ${why}`, keys: [] };
    const nowMs = this.now();
    const key = await this.#put({
      schemaVersion: SCHEMA_VERSION,
      list: "cli",
      type: "Deny",
      cidr: cidr.text,
      reason: req.reason,
      scenario: "manual",
      origins: [],
      createdAt: new Date(nowMs).toISOString(),
      expiresAt: req.durationSeconds ? new Date(nowMs + req.durationSeconds * 1000).toISOString() : null,
      offences: 1,
      source: "cli",
    });
    return { ok: true, keys: [key] };
  }

  /** Lifts every Deny decision for exactly this address or CIDR, whatever made it (BanList entries come back on the next sync). */
  async delete(cidrText: string): Promise<BanReply> {
    let cidr: Cidr;
    try {
      cidr = parseCidr(cidrText);
    } catch {
      return { ok: false, error: `${cidrText} is not an address or CIDR`, keys: [] };
    }
    const keys = [...this.#current.entries()].filter(([, d]) => d.type === "Deny" && d.cidr === cidr.text).map(([k]) => k);
    for (const k of keys) {
      await this.sink.deleteBan(k);
      this.onEntry(k, null);
    }
    return keys.length ? { ok: true, keys } : { ok: false, error: `no ban for ${cidr.text}`, keys: [] };
  }

  /** Deletes decisions that expired (at once for operators' and lists' ones, after a week for jails'), and seals no decision uses. */
  async forgetExpired(): Promise<number> {
    const nowMs = this.now();
    let n = 0;
    const used = new Set(this.#sealOf.values());
    for (const [id, seen] of [...this.#seals]) {
      // a seal younger than a minute may belong to a batch still being published
      if (used.has(id) || nowMs - seen < 60_000) continue;
      await this.sink.deleteBan(sealKey(id));
      this.#seals.delete(id);
    }
    for (const [key, d] of [...this.#current]) {
      if (!d.expiresAt) continue;
      const age = nowMs - Date.parse(d.expiresAt);
      if (age > (d.source === "jail" ? MEMORY_MS : 0)) {
        await this.sink.deleteBan(key);
        this.onEntry(key, null);
        n += 1;
      }
    }
    return n;
  }
}
