import { SCHEMA_VERSION, type DesiredState, type JailIR, type HostReport, type RulesetIR } from "@fleetwall/api";
import { logDropped, untilAborted } from "@fleetwall/runtime";
import type { Logger } from "pino";
import type { FirewallBackend } from "./backend.js";
import { LAST_APPLIED, LOCAL_BANS, PINNED_KEY, type StateStore } from "./state-store.js";
import { verifyDesired } from "./verify.js";
import type { Defender } from "./defender.js";
import type { AgentBus, AgentOptions } from "./agent-bus.js";
import { serialWriter } from "./bans-local.js";
import { composeReport, describe } from "./agent-report.js";
import type { JailRunner } from "./jails.js";
import type { JailBan } from "./jail-counter.js";
import { commitConfirm } from "./commit-confirm.js";
import { SerialQueue } from "./serial-queue.js";
import { ElementsAnswerer } from "./bans-elements.js";

export type { AgentBus, AgentOptions } from "./agent-bus.js";

interface Applied {
  state: DesiredState;
  envelope: string;
  rulesetHash: string;
  fingerprint: string;
}

const dec = new TextDecoder();

/** The agent's control loop: verify, apply, persist, report, repair drift. One operation at a time. */
export class Agent {
  #applied: Applied | undefined;
  #trustedKey: string | undefined;
  #desiredRevision = 0;
  #error: string | undefined;
  #failedHash: string | undefined;
  #driftRepairs = 0;
  applies = 0;
  applyFailures = 0;
  /** Told how long each nft transaction took (ms), for the apply-latency histogram. */
  onApplyMs: ((ms: number) => void) | undefined;
  rollbacks = 0;
  #dropped = 0;
  inflateRefusals = 0; // desired states whose payload inflated past the bound (zip bombs; also in #dropped)
  readonly #ops = new SerialQueue((error) => this.log.error({ err: error }, "agent operation failed"));
  #trusted: Promise<void>;
  #onTrusted: () => void = () => undefined;
  #bus: AgentBus | undefined;
  #mayPin: boolean;
  #elements: ElementsAnswerer | undefined;

  constructor(
    private readonly options: AgentOptions,
    private readonly backend: FirewallBackend,
    private readonly store: StateStore,
    private readonly log: Logger,
    private readonly defender?: Defender,
    private readonly jails?: JailRunner,
  ) {
    this.#trustedKey = options.controllerKey;
    this.#mayPin = options.mayPinFirstKey ?? false;
    this.#trusted = new Promise((resolve) => {
      this.#onTrusted = resolve;
    });
    if (this.#trustedKey) this.#onTrusted();
  }

  /** The bus is authenticated (or the operator said so): the first controller key seen may be pinned. */
  allowPinning(): void {
    this.#mayPin = true;
  }

  /** Resolves once a controller key is trusted (configured, restored or pinned). */
  whenTrusted(): Promise<void> {
    return this.#trusted;
  }

  /** The key desired states and ban decisions must be signed with (configured or pinned). */
  trustedKey(): string | undefined {
    return this.#trustedKey;
  }

  /** A jail ban: enforced here at once, and signalled to the fleet when the bus is there. */
  onJailBan(ban: JailBan, jail: JailIR): void {
    this.defender?.onJailBan(ban, jail, this.#bus);
  }

  get droppedMessages(): number {
    return this.#dropped;
  }

  get driftRepairs(): number {
    return this.#driftRepairs;
  }

  /** Operators' element listings answered, and refused (malformed, busy, nothing to list). */
  get elementListings(): { answered: number; refused: number } {
    return { answered: this.#elements?.answered ?? 0, refused: this.#elements?.refused ?? 0 };
  }
  get appliedRevision(): number {
    return this.#applied?.state.revision ?? 0;
  }

  /** Stops the jails and saves their log positions; rules and bans stay in the kernel (fail static). */
  async shutdown(): Promise<void> {
    this.defender?.close();
    await this.jails?.stop();
  }

  /** Restores the last applied ruleset from the state directory (boot, restart) before any bus exists. */
  async restore(): Promise<boolean> {
    await this.store.init();
    this.#trustedKey ??= await this.store.read(PINNED_KEY);
    if (this.#trustedKey) this.#onTrusted();
    await this.jails?.init();
    if (this.defender) {
      await this.defender.bans.ensureTable();
      this.defender.bans.restoreLocal(await this.store.read(LOCAL_BANS));
      this.defender.bans.saveLocal = serialWriter((json) => this.store.write(LOCAL_BANS, json), (error) => this.log.warn({ err: error }, "local bans not saved"));
    }
    const saved = await this.store.read(LAST_APPLIED);
    if (!saved) return false;
    const v = verifyDesired(saved, { hostId: this.options.hostId, trustedKey: this.#trustedKey, appliedRevision: 0 });
    if (!v.ok) {
      this.log.error({ reason: v.reason }, "saved state refused; not restored");
      return false;
    }
    const result = await this.backend.applyRuleset(v.state.ruleset);
    this.#applied = { state: v.state, envelope: saved, ...result };
    await this.jails?.configure(v.state.jails);
    this.#desiredRevision = v.state.revision;
    this.log.info({ revision: v.state.revision }, "ruleset restored from state directory");
    return true;
  }

  /** Runs until `signal` aborts: registers, follows desired state, heartbeats and repairs drift. */
  async run(bus: AgentBus, signal: AbortSignal): Promise<void> {
    const heartbeat = setInterval(() => void this.#ops.runPeriodic("heartbeat", () => this.#report(bus)), this.options.heartbeatMs);
    const drift = setInterval(() => void this.#ops.runPeriodic("drift", () => this.checkDrift(bus)), this.options.driftIntervalMs);
    signal.addEventListener("abort", () => {
      clearInterval(heartbeat);
      clearInterval(drift);
    });
    // however run ends, its timers go with it: left behind, they kept a failed agent's process
    // alive, heartbeating on a closed connection, where exiting would have had it restarted
    try {
      await bus.register(
        { schemaVersion: SCHEMA_VERSION, hostId: this.options.hostId, startedAt: this.options.now().toISOString(), ...this.options.registration },
        signal,
      );
      this.log.info("registered");
      this.#bus = bus;
      await this.#ops.run(() => this.#report(bus));
      const desired = bus.watchDesired((data, stored) => this.#ops.runLogged(() => this.onDesired(bus, data, stored)), signal);
      const defender = this.defender;
      const bans = defender
        ? (async () => {
            // decisions are verified with the controller's key: with none configured, wait until one is
            // pinned (or the agent stops)
            if (!(await untilAborted(this.#trusted, signal).then(() => true, () => false))) return;
            void defender.drain(bus);
            await bus.watchBans((key, data, storedAtMs) => defender.onDecisionEntry(key, data, storedAtMs), signal, () => void this.#ops.runLogged(() => defender.bans.synced()));
          })()
        : Promise.resolve();
      const lifts = defender && bus.watchLifts ? bus.watchLifts((data) => void this.#ops.runLogged(async () => (defender.onLift(dec.decode(data), this.#trustedKey) ? this.#report(bus) : undefined)), signal) : Promise.resolve();
      const elements = defender && bus.serveElements ? bus.serveElements((req, max) => (this.#elements ??= new ElementsAnswerer(this.backend, defender.bans, this.options.hostId, this.log)).answer(req, max), signal) : Promise.resolve();
      await Promise.all([desired, bans, lifts, elements]);
    } finally {
      clearInterval(heartbeat);
      clearInterval(drift);
    }
  }

  /**
   * Handles one desired-state message. Malformed or untrusted messages are dropped and counted. A
   * `stored` one (read from the bucket to catch up) that is older than what is applied was overtaken
   * by a newer update, not replayed: it is ignored, not counted.
   */
  async onDesired(bus: AgentBus, bytes: string | Uint8Array, stored = false): Promise<void> {
    const v = verifyDesired(bytes, { hostId: this.options.hostId, trustedKey: this.#trustedKey, appliedRevision: this.appliedRevision, appliedHash: this.#applied?.state.hash });
    if (!v.ok && v.older && stored) {
      this.log.debug({ applied: this.appliedRevision }, "stored desired state older than the one applied; ignored");
      return;
    }
    const refusal = v.ok ? (!this.#trustedKey && !this.#mayPin ? "no controller key configured, and the bus is not authenticated: not pinning a key from it (--controller-key or --trust-first-key)" : undefined) : v.reason;
    if (!v.ok || refusal) {
      this.#dropped += 1;
      if (!v.ok && v.inflatesPast !== undefined) this.inflateRefusals += 1;
      logDropped(this.log, { reason: refusal, bytes: bytes.length }, "desired state dropped");
      await this.#report(bus);
      return;
    }
    if (!this.#trustedKey) {
      this.#trustedKey = v.publicKey;
      this.#onTrusted();
      await this.store.write(PINNED_KEY, v.publicKey);
      this.log.warn({ keyId: v.envelope.keyId }, "no controller key configured; pinned the first key seen");
    }
    this.#desiredRevision = Math.max(this.#desiredRevision, v.state.revision);
    if (this.#applied?.state.hash === v.state.hash) {
      this.#applied = { ...this.#applied, state: v.state, envelope: v.text };
      await this.#persist();
      await this.#report(bus);
      return;
    }
    if (this.#failedHash === v.state.hash) return;
    await this.#apply(v.state, v.text);
    await this.#report(bus);
  }

  async #apply(state: DesiredState, envelope: string): Promise<void> {
    const started = performance.now();
    const previous = this.#applied;
    let result;
    try {
      result = await this.backend.applyRuleset(state.ruleset);
      this.onApplyMs?.(performance.now() - started);
    } catch (error) {
      this.applyFailures += 1;
      this.#error = `revision ${state.revision}: ${describe(error)}`;
      this.#failedHash = state.hash;
      this.log.error({ revision: state.revision, err: error }, "ruleset apply failed; previous ruleset stays");
      return;
    }
    if (this.#bus && !(await this.#confirm(state, previous))) {
      this.rollbacks += 1;
      return;
    }
    this.applies += 1;
    this.#applied = { state, envelope, ...result };
    this.#error = undefined;
    this.#failedHash = undefined;
    await this.#persist();
    await this.jails?.configure(state.jails);
    this.log.info({ revision: state.revision, ms: Math.round(performance.now() - started) }, "ruleset applied");
  }

  /** Commit-confirm (commit-confirm.ts); a rollback restores the previous state and records why. */
  async #confirm(state: DesiredState, previous: Applied | undefined): Promise<boolean> {
    const outcome = await commitConfirm(this.#bus as AgentBus, this.backend, this.log, state, previous?.state.ruleset, this.options.confirmWindowMs);
    if (outcome.confirmed) return true;
    if (previous && outcome.restored) this.#applied = { ...previous, ...outcome.restored };
    this.#error = outcome.error;
    this.#failedHash = outcome.blamed ? state.hash : undefined;
    return false;
  }

  async #persist(): Promise<void> {
    if (!this.#applied) return;
    await this.store.write(LAST_APPLIED, this.#applied.envelope);
  }

  /** Compares the kernel's tables with the ones applied; repairs any foreign change (both tables). */
  async checkDrift(bus: AgentBus): Promise<boolean> {
    if (await this.defender?.bans.checkDrift()) {
      this.#driftRepairs += 1;
      await this.#report(bus);
    }
    if (!this.#applied) return false;
    const now = await this.backend.fingerprint();
    if (now === this.#applied.fingerprint) return false;
    this.#driftRepairs += 1;
    this.log.warn({ revision: this.appliedRevision }, "drift detected; repairing");
    await this.#apply(this.#applied.state, this.#applied.envelope);
    await this.#report(bus);
    return true;
  }

  async auditCounts(): Promise<Record<string, number>> {
    return this.#applied ? this.backend.counters(this.#applied.state.ruleset) : {};
  }

  /** Publishes a report; never rejects (a report that cannot be sent now is superseded by the next heartbeat). */
  async #report(bus: AgentBus): Promise<void> {
    const auditDrops = await this.auditCounts().catch(() => ({}));
    try {
      bus.publishReport(this.report(auditDrops));
    } catch (error) {
      this.log.warn({ err: error }, "report not sent");
    }
  }

  report(auditDrops: Record<string, number> = {}): HostReport {
    const a = this.#applied;
    return composeReport({
      hostId: this.options.hostId,
      at: this.options.now(),
      applied: a ? { revision: a.state.revision, hash: a.state.hash, rulesetHash: a.rulesetHash } : undefined,
      error: this.#error,
      desiredRevision: this.#desiredRevision,
      driftRepairs: this.#driftRepairs,
      dropped: this.#dropped,
      auditDrops,
      heartbeatMs: this.options.heartbeatMs,
      defender: this.defender,
    });
  }

  ruleset(): RulesetIR | undefined {
    return this.#applied?.state.ruleset;
  }
}
