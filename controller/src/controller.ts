import { type BanList, type DesiredState, type FirewallPolicy, type FleetStatus, type HostBansRow, type HostRegistration, type HostReport, type Labels, type SigningKey } from "@fleetwall/api";
import { retry, untilAborted } from "@fleetwall/runtime";
import type { Logger } from "pino";
import { compile, precompile, type CompileResult } from "./compile.js";
import { lintPolicies } from "./lint.js";
import type { BanKeeper } from "./ban-keeper.js";
import { manifestErrorFields, manifestErrorsToLog, type PolicySet } from "./manifests.js";
import { planPublish, type Published } from "./publisher.js";
import { fleetStatus, hostBans } from "./status.js";
import { DesiredWitness, type DesiredEntry } from "./desired-witness.js";
import { desiredBytes, DesiredTooLargeError } from "./desired-wire.js";
import { DesiredNotPublishedError, PublishFailures } from "./publish-failures.js";

/** Desired states signed and sent per turn of the event loop. */
const PUBLISH_CHUNK = 50;

/** Where desired states go (a signed envelope's bytes); the NATS bus in production, which resolves with the write's stream sequence. */
export interface DesiredSink {
  putDesired(hostId: string, data: Uint8Array): Promise<number | void>;
  /** The most one put may carry (bytes), as the bus says now; unbounded when absent. */
  maxDesiredBytes?(): number;
}

/**
 * Level-based reconciler: events only record facts and wake the loop; each pass recomputes
 * every host's desired state from the current facts and publishes what changed.
 */
export class Controller {
  #policies: FirewallPolicy[] = [];
  #invalid = new Map<string, string[]>();
  #invalidBanLists = new Map<string, string[]>();
  #warnings = new Map<string, string[]>();
  /** The invalid manifests logged, by where they are: each is logged again only when its errors change. */
  #loggedInvalid = new Map<string, string>();
  #loggedWarnings = new Map<string, string>();
  #banLists: BanList[] = [];
  #hosts = new Map<string, HostRegistration>();
  /** Labels of FirewallHost objects, which take precedence over what agents propose (kube source). */
  #labels = new Map<string, Labels>();
  #reports = new Map<string, HostReport>();
  /** When each host's last report came (ms), to tell stale hosts. */
  #seen = new Map<string, number>();
  #published: Map<string, Published>;
  /** Hosts to publish again whatever their hash, above this revision (their key was overwritten). */
  #repairs = new Map<string, number>();
  readonly #witness = new DesiredWitness();
  /** Hosts whose newest state is not in their key, and why (in status; counted). */
  readonly failures = new PublishFailures();
  /** Desired states found overwritten by another writer. */
  overwritten = 0;
  #compiled: CompileResult = { hosts: new Map(), selection: new Map() };
  #dirty = true;
  #wake: (() => void) | undefined;
  #bansLoaded = false;
  reconciles = 0;
  published = 0;
  /** Told how long each reconcile pass took (ms), for the reconcile-latency histogram. */
  onReconcileMs: ((ms: number) => void) | undefined;
  #sourceLoaded = false;

  /** Policies have been read once and the bans bucket too (when bans are kept): the controller can decide. */
  get ready(): boolean {
    return this.#sourceLoaded && (!this.bans || this.#bansLoaded);
  }

  constructor(
    private readonly sink: DesiredSink,
    private readonly key: SigningKey,
    private readonly log: Logger,
    published: Map<string, Published>,
    private readonly bans?: BanKeeper,
  ) {
    this.#published = published;
  }

  /** The bans bucket has been read once: BanLists can now be compared with it. */
  bansLoaded(): void {
    this.#bansLoaded = true;
    this.#kick();
  }

  setPolicies(set: PolicySet): void {
    this.#policies = set.policies;
    this.#sourceLoaded = true;
    this.#banLists = set.banLists;
    this.bans?.setBanLists(set.banLists);
    // one name may have several problems (an invalid edit and a duplicate in another file): keep them all
    const byName = (errors: PolicySet["errors"]) => {
      const out = new Map<string, string[]>();
      for (const e of errors) out.set(e.name || e.file, [...(out.get(e.name || e.file) ?? []), ...e.errors]);
      return out;
    };
    this.#invalid = byName(set.errors.filter((e) => e.kind !== "BanList"));
    this.#invalidBanLists = byName(set.errors.filter((e) => e.kind === "BanList"));
    this.#warnings = lintPolicies(set.policies);
    const warned = new Map([...this.#warnings].map(([policy, w]) => [policy, JSON.stringify(w)]));
    for (const [policy, warnings] of this.#warnings) if (this.#loggedWarnings.get(policy) !== warned.get(policy)) this.log.warn({ policy, warnings }, "policy warning");
    this.#loggedWarnings = warned;
    const invalid = manifestErrorsToLog(set.errors, this.#loggedInvalid);
    this.#loggedInvalid = invalid.logged;
    for (const e of invalid.log) this.log.warn(manifestErrorFields(e), "invalid manifest");
    this.#kick();
  }

  setHost(id: string, reg: HostRegistration | null): void {
    if (reg) this.#hosts.set(id, reg);
    else this.#hosts.delete(id);
    // a host is heard of when it registers: with no report after it, it goes stale too
    if (reg && !this.#reports.has(id)) this.#seen.set(id, Date.now());
    this.bans?.setHost(id, reg);
    this.#kick();
  }

  /** The labels a host's FirewallHost carries (null: it has none, the agent's proposal holds). */
  setHostLabels(id: string, labels: Labels | null): void {
    const before = this.#labels.get(id);
    if (labels) this.#labels.set(id, labels);
    else this.#labels.delete(id);
    if (JSON.stringify(before) !== JSON.stringify(labels ?? undefined)) this.#kick();
  }

  /** Registered hosts, with the labels policies select them by. */
  get registrations(): ReadonlyMap<string, HostRegistration> {
    return new Map([...this.#hosts].map(([id, reg]) => [id, { ...reg, labels: this.#labels.get(id) ?? reg.labels }]));
  }

  /** The hosts each valid policy selects, as of the last pass. */
  get selection(): ReadonlyMap<string, readonly string[]> {
    return this.#compiled.selection;
  }

  /** A host's key may no longer hold what was published (a rogue consumer wrote into it): publish it again. */
  republish(hostId: string): void {
    this.#repair(hostId, this.#published.get(hostId)?.revision ?? 0);
  }

  /**
   * An entry of the desired bucket, as its watch delivers it. One that another writer put (a second
   * controller leading with another lease, a put by hand) is said in one warning naming the host,
   * and the host is published again above every revision seen for it (desired-witness.ts).
   */
  onDesiredEntry(hostId: string, entry: DesiredEntry): void {
    const published = this.#published.get(hostId);
    const foreign = this.#witness.foreign(hostId, entry, published);
    if (!foreign) {
      // a put whose acknowledgement was lost, stored all the same: the key holds it
      const stored = this.#witness.stored(hostId, entry);
      if (stored) this.#published.set(hostId, stored);
      if (stored) this.failures.published(hostId);
      return;
    }
    this.overwritten += 1;
    const inMs = this.#witness.pace(hostId, Date.now());
    this.log.warn({ host: hostId, found: foreign.found ?? "not a desired state", published: published ?? null, republishAbove: foreign.floor, inMs }, "desired state overwritten by another writer (a second controller?); publishing it again");
    if (inMs === 0) this.#repair(hostId, foreign.floor);
    else setTimeout(() => this.#repair(hostId, foreign.floor), inMs).unref();
  }

  #repair(hostId: string, floor: number): void {
    this.#repairs.set(hostId, Math.max(floor, this.#repairs.get(hostId) ?? 0));
    this.#kick();
  }

  /**
   * What each key holds, as planPublish reads it: a host to repair holds nothing of ours, above its
   * floor; a host whose last put was not acknowledged goes on above that put's revision (it may be
   * stored and applied: its number is never used again for other content).
   */
  #publishedView(): ReadonlyMap<string, Published> {
    const unacked = [...this.#witness.unacknowledged()];
    if (this.#repairs.size === 0 && unacked.length === 0) return this.#published;
    const view = new Map(this.#published);
    for (const [hostId, sent] of unacked) {
      const p = view.get(hostId);
      if (!p || sent.revision > p.revision) view.set(hostId, { revision: sent.revision, hash: p?.hash ?? "" });
    }
    for (const [hostId, floor] of this.#repairs) view.set(hostId, { revision: Math.max(floor, view.get(hostId)?.revision ?? 0), hash: "" });
    return view;
  }

  recordReport(report: HostReport): void {
    this.#reports.set(report.hostId, report);
    this.#seen.set(report.hostId, Date.now());
    const floor = this.#witness.reportedAbove(report, this.#published.get(report.hostId));
    if (floor !== undefined && (this.#repairs.get(report.hostId) ?? 0) < floor) this.#repair(report.hostId, floor);
  }

  get reports(): ReadonlyMap<string, HostReport> {
    return this.#reports;
  }

  /** Forgets a decommissioned host's report and what was published to it (its keys are deleted by the caller). */
  forgetHost(id: string): void {
    this.#reports.delete(id);
    this.#seen.delete(id);
    this.#published.delete(id);
    this.#repairs.delete(id);
    this.#witness.forget(id);
    this.setHost(id, null);
  }

  #statusInput() {
    return { hosts: this.registrations, compiled: this.#compiled, published: this.#published, reports: this.#reports, seen: this.#seen, invalid: this.#invalid, invalidBanLists: this.#invalidBanLists, warnings: this.#warnings, unpublished: this.failures.byHost, banLists: this.#banLists, banListOutcomes: this.bans?.banLists.outcomes ?? new Map(), decisions: this.bans?.decisionsByKey ?? new Map(), refusedAddresses: this.bans?.protection.refusedAddresses };
  }

  status(): FleetStatus {
    return fleetStatus(this.#statusInput());
  }

  /** Each host's bans as it reports them, against the decisions it should hold. */
  hostBans(): HostBansRow[] {
    return hostBans(this.#statusInput());
  }

  #kick(): void {
    this.#dirty = true;
    this.#wake?.();
  }

  /** Runs reconcile passes until `signal` aborts; a failed pass is retried with backoff. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (!this.#dirty) {
        const woken = new Promise<void>((resolve) => (this.#wake = resolve));
        await untilAborted(woken, signal).catch(() => undefined);
        this.#wake = undefined;
        continue;
      }
      const passed = await retry(() => this.#pass(signal), {
        signal,
        initialMs: 200,
        maxMs: 10_000,
        // a put that failed was logged once, with its host (PublishFailures.note), not once per retry
        onRetry: (err, retryInMs) => (err instanceof DesiredNotPublishedError ? this.log.debug({ err, retryInMs }, "reconcile failed; retrying") : this.log.error({ err, retryInMs }, "reconcile failed; retrying")),
      }).then(() => true, () => false);
      if (!passed) return; // aborted while waiting to retry
    }
  }

  /** One pass, started afresh from the current facts each time it is tried. */
  async #pass(signal: AbortSignal): Promise<void> {
    this.#dirty = false;
    const started = performance.now();
    await this.reconcile(signal);
    this.onReconcileMs?.(performance.now() - started);
  }

  /**
   * One pass: compile every known host, publish the hosts whose hash changed. Nothing is compiled
   * before the source has delivered its first set: a source that cannot list (403, a missing CRD,
   * an API server down at takeover) must leave every host's rules as they are, never empty them.
   */
  async reconcile(signal?: AbortSignal): Promise<number> {
    if (!this.#sourceLoaded) return 0;
    const hosts = [...this.registrations.values()].map((h) => ({ id: h.hostId, labels: h.labels }));
    // new and changed policies compiled in slices, so status and ban requests are answered meanwhile
    const policies = this.#policies;
    await precompile(policies, undefined, signal);
    if (signal?.aborted) return 0;
    this.#compiled = compile(policies, hosts);
    this.bans?.setJails(new Map([...this.#compiled.hosts].map(([id, h]) => [id, h.jails.map((j) => j.name)])));
    this.reconciles += 1;
    this.failures.retain((h) => this.#compiled.hosts.get(h)?.hash);
    const plan = planPublish(this.#compiled.hosts, this.#publishedView()).filter((s) => !this.failures.futile(s.hostId, s.hash));
    const puts: Promise<void>[] = [];
    // each put handled as it is made: one failing while later chunks are signed must not go unhandled
    let failure: unknown;
    for (let i = 0; i < plan.length; i += PUBLISH_CHUNK) {
      // signed and sent a chunk at a time, so the first hosts verify their state while the rest is
      // still being signed (a change to 1,000 hosts is 1,000 signatures over ~25 KB)
      if (i > 0) await new Promise((r) => setImmediate(r));
      for (const state of plan.slice(i, i + PUBLISH_CHUNK)) puts.push(this.#publish(state).catch((error: unknown) => void (failure ??= error)));
    }
    await Promise.all(puts);
    if (failure !== undefined) throw new DesiredNotPublishedError(`desired state not published: ${failure instanceof Error ? failure.message : String(failure)}`, { cause: failure });
    return plan.length;
  }

  /** Signs, encodes and puts one host's state; one too large for the bus is recorded, not thrown (retrying will not help). */
  async #publish(state: DesiredState): Promise<void> {
    const repair = this.#repairs.get(state.hostId);
    let data: Uint8Array;
    try {
      data = await desiredBytes(this.key, state, this.sink.maxDesiredBytes?.() ?? Number.POSITIVE_INFINITY);
    } catch (error) {
      this.failures.note(state, error, this.log);
      if (error instanceof DesiredTooLargeError) return;
      throw error;
    }
    this.#witness.sending(state.hostId, { revision: state.revision, hash: state.hash });
    const seq = await this.sink.putDesired(state.hostId, data).catch((error: unknown) => Promise.reject(this.failures.note(state, error, this.log)));
    this.#witness.acked(state.hostId, typeof seq === "number" ? seq : undefined);
    if (repair !== undefined && this.#repairs.get(state.hostId) === repair) this.#repairs.delete(state.hostId);
    this.#published.set(state.hostId, { revision: state.revision, hash: state.hash });
    this.failures.published(state.hostId);
    this.published += 1;
    this.log.info({ host: state.hostId, revision: state.revision, policies: state.policies.map((p) => p.name), bytes: data.length }, "desired state published");
  }
}
