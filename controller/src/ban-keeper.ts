import { banKey, formatDuration, isBanKey, isCidr, parseCidr, type BanAddRequest, type BanImportRequest, type BanList, type BanReply, type BanSignal, type Cidr, type HostRegistration, type SigningKey, type BanDecision } from "@fleetwall/api";
import { ThrottledLines } from "@fleetwall/runtime";
import type { Logger } from "pino";
import type { z } from "zod";
import { arbitrate, type ArbiterConfig } from "./arbiter.js";
import { BanMirror } from "./ban-mirror.js";
import { planAdd, planDelete, planExpiry, planImport, type BanPlan } from "./ban-plan.js";
import { BanPublisher, type BanSink } from "./ban-publisher.js";
import { BanListReconciler } from "./banlist-reconciler.js";
import { Protection } from "./protection.js";
import type { NodeAddresses } from "./host-networks.js";
import { ReplayGuard } from "./replay-guard.js";
import { DEFAULT_REPORTER_LIMITS, ReporterLog, budgetUnit } from "./reporter-log.js";
import { refusalCounts, type SignalRefusalCode } from "./signal-refusals.js";

/** The budget unit of a signal: its list and its address's unit; none for an address that does not parse (the arbiter refuses it). */
function budgetUnitOf(signal: BanSignal): string | undefined {
  try {
    return `jail-${signal.jail} ${budgetUnit(signal.address)}`;
  } catch {
    return undefined;
  }
}

/** A signal from a host registered since the last compile: judged when it is redelivered. */
export class JailsNotCompiledError extends Error {
  override name = "JailsNotCompiledError";
}

/** When a decision ends (ms; null: never), undefined for none. */
const expiryOf = (d: BanDecision | undefined): number | null | undefined => (d ? (d.expiresAt === null ? null : Date.parse(d.expiresAt)) : undefined);

/** A promise opened once, from outside. */
function gate(): { done: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (open = resolve));
  return { done, open };
}

function canonical(address: string): string {
  try {
    return parseCidr(address).text;
  } catch {
    return address;
  }
}

/** Each reason of a per-signal log line is written at most once this often, then counted. */
const LOG_INTERVAL_MS = 10_000;

/** How often expired decisions and stale reports are forgotten. */
const JANITOR_MS = 30_000;

/**
 * The controller's ban side, put together from its parts: the mirror of the bans bucket, the
 * protections, the reporters' log, the pure planners (arbitrate, add, import, delete, expiry, and
 * the BanList reconciler's), and the one publisher that executes their plans.
 */
export class BanKeeper {
  readonly mirror: BanMirror;
  readonly protection: Protection;
  readonly publisher: BanPublisher;
  readonly reporters: ReporterLog;
  readonly banLists: BanListReconciler;
  /** Signals not turned into a fleet ban, by reason code (a fixed set: signal-refusals.ts). */
  readonly skipped: Record<SignalRefusalCode, number> = refusalCounts();
  /** Told when what is protected changes (a registration, the control plane's addresses): the fleet's list is published again. */
  onProtectionChange: () => void = () => undefined;
  /** Replayed decisions found in the bucket (and deleted). */
  replays = 0;
  readonly #replays = new ReplayGuard();
  #jails = new Map<string, Set<string>>();
  readonly #jailsKnown = gate();
  /** A flood of well-formed signals is one line per reason per interval, then a count (the metric counts each). */
  readonly #refusedLog: ThrottledLines;
  /** A host re-registering in a loop is one line per host per interval. */
  readonly #claimsLog: ThrottledLines;
  /** The refused claims last logged, per host (one entry per registered host at most). */
  readonly #claimsSaid = new Map<string, string>();

  constructor(
    sink: BanSink,
    key: SigningKey,
    private readonly config: ArbiterConfig,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.mirror = new BanMirror(now);
    this.protection = new Protection(config, this.mirror);
    this.publisher = new BanPublisher(sink, key, this.mirror, log, now);
    this.reporters = new ReporterLog({ ...DEFAULT_REPORTER_LIMITS, windowMs: config.reportWindowSeconds * 1000 });
    this.banLists = new BanListReconciler(this.mirror, this.protection.check, this.publisher, log, now);
    this.mirror.onAllowChange = () => this.banLists.kick();
    this.#refusedLog = new ThrottledLines(log, "signals not turned into a fleet ban, not logged one by one", LOG_INTERVAL_MS, now);
    this.#claimsLog = new ThrottledLines(log, "registration claims refused, not logged one by one", LOG_INTERVAL_MS, now);
  }

  get decisions(): number {
    return this.publisher.decisions;
  }

  get skippedSignals(): number {
    return Object.values(this.skipped).reduce((a, b) => a + b, 0);
  }

  get decisionsByKey(): ReadonlyMap<string, BanDecision> {
    return this.mirror.decisions;
  }

  /**
   * A bucket entry from the watch. A replayed one (an old envelope put back) is undone: what the key
   * held before is published again, or the key deleted when it held nothing.
   */
  onEntry(key: string, decision: BanDecision | null, seal?: string, revision?: number, storedAtMs?: number): void {
    const previous = this.mirror.decisions.get(key);
    const replay = this.#replays.check(key, decision, previous, storedAtMs, this.now());
    this.mirror.onEntry(key, decision, seal, revision);
    if (!replay) return;
    this.replays += 1;
    this.log.warn({ key, reason: replay, restored: !!previous }, "replayed decision in the bans bucket; undoing it");
    const plan = previous ? { puts: [previous], deletes: [], refusals: [] } : { puts: [], deletes: [key], refusals: [] };
    this.publisher.execute(plan).catch((e: unknown) => this.log.error({ key, err: e }, "replayed decision not undone"));
  }

  onSeal(id: string, present: boolean, revision?: number): void {
    this.mirror.onSeal(id, present, revision);
  }

  /** A host's registration (null: gone): its addresses and management networks are protected, within bounds. */
  setHost(hostId: string, reg: Pick<HostRegistration, "addresses" | "managementSources"> | null): void {
    const refused = this.protection.setHost(hostId, reg);
    // said once per host and list of refusals (an agent re-registers at each start), and again when they change
    const said = refused.join("\n");
    if (refused.length && this.#claimsSaid.get(hostId) !== said) this.#claimsLog.write("warn", hostId, { host: hostId, refused }, "registration claims refused");
    if (refused.length && reg) this.#claimsSaid.set(hostId, said);
    else this.#claimsSaid.delete(hostId);
    this.banLists.kick();
    this.onProtectionChange();
  }

  /** The Kubernetes Node a host is (null: none): a registered host's addresses are judged against the Node's. */
  setNode(hostId: string, node: NodeAddresses | null): void {
    const refused = this.protection.setNode(hostId, node);
    // a Node's every status update comes here: only a change of what is protected goes further
    if (!refused) return;
    const said = refused.join("\n");
    if (refused.length && this.#claimsSaid.get(hostId) !== said) this.#claimsLog.write("warn", hostId, { host: hostId, node: node?.node, refused }, "registration claims refused");
    if (refused.length) this.#claimsSaid.set(hostId, said);
    this.banLists.kick();
    this.onProtectionChange();
  }

  /** The control plane's addresses resolved from names (NATS servers, this controller). */
  setResolved(cidrs: readonly Cidr[]): void {
    this.protection.setResolved(cidrs);
    this.onProtectionChange();
  }

  setBanLists(lists: readonly BanList[]): void {
    this.banLists.setLists(lists);
  }

  /**
   * The jails each host runs, from the controller's last compile (a map of host → jail names). A
   * signal naming a jail its host does not run is refused: jail names cannot multiply what one
   * host's report is worth.
   */
  setJails(jails: ReadonlyMap<string, readonly string[]>): void {
    this.#jails = new Map([...jails].map(([host, names]) => [host, new Set(names)]));
    this.#jailsKnown.open();
  }

  /** Resolves once the hosts' jails are known (the first compile): no signal is judged before. */
  get jailsKnown(): Promise<void> {
    return this.#jailsKnown.done;
  }

  async onSignal(signal: BanSignal): Promise<void> {
    const nowMs = this.now();
    const key = banKey(`jail-${signal.jail}`, canonical(signal.address));
    // registered since the last compile: its jails are known within a pass, so the signal is redelivered
    if (!this.#jails.has(signal.hostId) && this.protection.registered(signal.hostId)) throw new JailsNotCompiledError(`jails of ${signal.hostId} not compiled yet`);
    if (!this.#jails.get(signal.hostId)?.has(signal.jail)) return this.#refused(signal, "jail-not-run", `jail ${signal.jail} is not run by ${signal.hostId}`);
    if (!isCidr(signal.address)) return this.#refused(signal, "not-an-address", "not an address");
    if (!isBanKey(key)) return this.#refused(signal, "key-unstorable", `key ${key} cannot be stored`);
    // one budget unit per decision (list and address range): jail names do not multiply it
    const unit = budgetUnitOf(signal);
    const reporters = this.reporters.record(signal.address, signal.hostId, Date.parse(signal.at), nowMs);
    const previous = this.mirror.decisions.get(key);
    const plan = arbitrate(
      signal,
      { ...this.protection.view, previousOffences: previous?.offences ?? 0, previousExpiresAtMs: expiryOf(previous), reporters, soloBudgetLeft: this.reporters.budgetLeft(signal.hostId, this.config.soloBudgetPerMinute, nowMs, unit) },
      this.config,
      nowMs,
    );
    const refusal = plan.refusals[0];
    if (refusal) return this.#refused(signal, refusal.code, refusal.reason);
    await this.publisher.execute(plan);
    // spent once published: a signal redelivered after a failed put is not charged twice. Reports
    // are kept (windowed, capped): a second host's report within the window upgrades a solo ban
    if (plan.solo) this.reporters.charge(signal.hostId, this.config.soloBudgetPerMinute, nowMs, unit);
    const ban = plan.puts[0] as BanDecision;
    this.log.warn({ address: ban.cidr, jail: signal.jail, expiresAt: ban.expiresAt, offences: ban.offences, origins: ban.origins, solo: plan.solo }, "fleet ban");
  }

  /**
   * Counts a refusal by its code and logs it: one line per code and reporting host per interval (one
   * host's flood does not hide another's refusals; the throttle bounds its keys), the words in the line.
   */
  #refused(signal: BanSignal, code: SignalRefusalCode, reason: string): void {
    this.skipped[code] += 1;
    this.#refusedLog.write("info", `${code} ${signal.hostId}`, { address: signal.address, jail: signal.jail, host: signal.hostId, code, reason }, "signal not turned into a fleet ban");
  }

  async #reply(plan: BanPlan): Promise<BanReply> {
    const keys = await this.publisher.execute(plan);
    return { ok: true, keys };
  }

  /** Why a requested ban duration is refused: longer than `--max-ban`, the longest ban this controller grants. */
  #durationProblem(seconds: number | null): string | undefined {
    if (seconds === null || seconds <= this.config.maxBanSeconds) return undefined;
    return `a ban of ${formatDuration(seconds * 1000)} is longer than the controller allows (--max-ban ${formatDuration(this.config.maxBanSeconds * 1000)})`;
  }

  async add(req: z.infer<typeof BanAddRequest>): Promise<BanReply> {
    const tooLong = this.#durationProblem(req.durationSeconds);
    if (tooLong) return { ok: false, error: tooLong, keys: [] };
    const plan = planAdd(req, this.protection.check, this.now());
    const r = plan.refusals[0];
    if (r) return { ok: false, error: r.reason === "not an address or CIDR" ? `${r.cidr} is not an address or CIDR` : `${r.cidr} is not banned: ${r.reason}`, keys: [] };
    return this.#reply(plan);
  }

  /** One chunk of an import: every entry checked like a manual ban, then published under seals. */
  async import(req: z.infer<typeof BanImportRequest>): Promise<BanReply> {
    const tooLong = this.#durationProblem(req.durationSeconds);
    if (tooLong) return { ok: false, error: tooLong, keys: [] };
    const plan = planImport(req, this.protection.check, this.now());
    await this.publisher.execute(plan);
    return { ok: true, keys: [], published: plan.puts.length, refused: plan.refusals.map(({ cidr, reason }) => ({ cidr, reason })) };
  }

  /** Lifts every Deny decision for exactly this address or CIDR, whatever made it (BanList entries come back on the next sync). */
  async delete(cidrText: string): Promise<BanReply> {
    const plan = planDelete(cidrText, this.mirror.decisions);
    const r = plan.refusals[0];
    if (r) return { ok: false, error: r.reason === "not an address or CIDR" ? `${r.cidr} is not an address or CIDR` : r.reason, keys: [] };
    await this.publisher.execute(plan);
    return { ok: true, keys: plan.deletes };
  }

  /** Brings BanList decisions in line with the resources (one pass of the reconciler). */
  syncBanLists(): Promise<void> {
    return this.banLists.sync();
  }

  /** Deletes expired decisions and unused seals; forgets stale reports. Returns how many keys went. */
  async forgetExpired(): Promise<number> {
    const nowMs = this.now();
    this.reporters.prune(nowMs);
    const plan = planExpiry(this.mirror.decisions, this.mirror.seals, this.mirror.sealOf, nowMs);
    await this.publisher.execute(plan);
    return plan.deletes.length;
  }

  /** The BanList reconciler and the janitor, until aborted. Start once the bucket has been read. */
  async run(signal: AbortSignal): Promise<void> {
    const janitor = setInterval(() => void this.forgetExpired().catch((e: unknown) => this.log.warn({ err: e }, "expired bans not removed")), JANITOR_MS);
    try {
      await this.banLists.run(signal);
    } finally {
      clearInterval(janitor);
      this.#refusedLog.close();
      this.#claimsLog.close();
    }
  }
}
