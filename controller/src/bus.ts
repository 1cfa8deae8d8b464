import { headers, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import type { KV, KvWatchEntry } from "@nats-io/kv";
import { jetstream } from "@nats-io/jetstream";
import {
  BANS_BUCKET,
  DESIRED_BUCKET,
  HostReport,
  REPORT_WILDCARD,
  STATUS_REQUEST,
  envelopeText,
  type BanDecision,
  type BanSignal,
  type FleetStatus,
  type HostRegistration,
  type SignedEnvelope,
} from "@fleetwall/api";
import { ThrottledLines, closeNats, connectNats, retry } from "@fleetwall/runtime";
import type { Logger } from "pino";
import { AckedPublisher } from "./acked-publisher.js";
import { serveBans, type BanHandlers } from "./ban-requests.js";
import { followBucket } from "./bucket-watch.js";
import { ReportGate } from "./report-gate.js";
import { HostAudit } from "./host-audit.js";
import { decodeBanEntry, decodeDesired, decodeHostEntry, kvSubject, publishedOf, safeJson } from "./bus-codec.js";
import { maxDesiredBytes, setUpStreams } from "./bus-limits.js";
import type { StreamSettings } from "./stream-settings.js";
import type { DesiredEntry } from "./desired-witness.js";
import type { Published } from "./publisher.js";
import { SignalConsumer } from "./signal-consumer.js";

const enc = new TextEncoder();

export interface BusOptions {
  /** Servers, name, credentials and TLS; the bus adds its own reconnect behaviour. */
  connection: NodeConnectionOptions;
  /** JetStream replicas for the buckets; 3 on a three-server cluster. */
  replicas: number;
  log: Logger;
  /** Called for every message dropped as malformed, with a short reason. */
  onInvalid: (kind: string, reason: string) => void;
  /** Remembers the stream settings the server would not change (stream-settings.ts). */
  streamSettings?: StreamSettings;
}

/**
 * The controller's NATS adapter: with the publisher it puts through (acked-publisher.ts), the only
 * controller code that imports the NATS client.
 */
export class ControllerBus {
  readonly #signals: SignalConsumer;
  /** Puts to the desired and bans buckets: thousands a second on a fleet-wide change or an import. */
  readonly #puts: AckedPublisher;
  readonly #reportGate = new ReportGate();
  /** Values in the hosts bucket that were no registration, put back or deleted (watchHosts). */
  hostsRestored = 0;
  #restoreLog: ThrottledLines | undefined;
  /** Puts back registrations gone from the hosts bucket without a delete (host-audit.ts). */
  readonly hostAudit: HostAudit;

  private constructor(
    readonly nc: NatsConnection,
    private readonly desired: KV,
    private readonly hosts: KV,
    private readonly bans: KV,
    private readonly options: BusOptions,
  ) {
    this.#puts = new AckedPublisher(nc);
    this.hostAudit = new HostAudit(hosts, options.log);
    this.#signals = new SignalConsumer(nc, options.log, (reason) => options.onInvalid("signal", reason));
  }

  /** Connects (waiting for a server as long as it takes) and opens the buckets; gives up when `signal` aborts. */
  static async connect(options: BusOptions, signal: AbortSignal = new AbortController().signal): Promise<ControllerBus> {
    const nc = await connectNats(options.connection, signal, options.log);
    try {
      return await ControllerBus.open(nc, options, signal);
    } catch (error) {
      await nc.close();
      throw error;
    }
  }

  /** Opens the buckets and the signals stream on a connection, retrying until JetStream takes them. */
  static open(nc: NatsConnection, options: BusOptions, signal: AbortSignal): Promise<ControllerBus> {
    // a JetStream cluster that is still forming (or electing) refuses replicated buckets for a while:
    // keep trying rather than exit
    return retry(() => ControllerBus.#setUp(nc, options), {
      signal,
      initialMs: 500,
      maxMs: 10_000,
      onRetry: (err, retryInMs) => options.log.warn({ err, retryInMs }, "JetStream buckets and stream not ready; retrying"),
    });
  }

  static async #setUp(nc: NatsConnection, options: BusOptions): Promise<ControllerBus> {
    const { desired, hosts, bans } = await setUpStreams(nc, options.replicas, options.log, options.streamSettings);
    return new ControllerBus(nc, desired, hosts, bans, options);
  }

  /** Revision and hash of what each host's key holds now. */
  async loadPublished(): Promise<Map<string, Published>> {
    const out = new Map<string, Published>();
    const keys = await this.desired.keys();
    for await (const key of keys) {
      const entry = await this.desired.get(key);
      if (!entry || entry.operation !== "PUT") continue;
      const state = decodeDesired(entry.value);
      if (state) out.set(key, { revision: state.revision, hash: state.hash });
      else this.options.onInvalid("desired", "stored desired state does not parse");
    }
    return out;
  }

  /** Resolves with the stream sequence of the write. */
  putDesired(hostId: string, data: Uint8Array): Promise<number> {
    return this.#puts.publish(kvSubject(DESIRED_BUCKET, hostId), data);
  }

  /** The most one desired state may be: the server's max_payload (from its INFO) and the bucket's value size. */
  maxDesiredBytes(): number {
    return maxDesiredBytes(this.nc.info?.max_payload);
  }

  /**
   * Follows the desired bucket (each key's last value, then every put) until `signal` aborts, handing
   * on each put's stream sequence and the revision and hash it holds, so the leader can tell another
   * writer's puts from its own. Deletes are not handed on: the controller's own `hosts delete` makes them.
   */
  watchDesired(onEntry: (hostId: string, entry: DesiredEntry) => void, signal: AbortSignal): Promise<void> {
    return followBucket(this.desired, { name: "desired", log: this.options.log, ignoreDeletes: true, onEntry: (e) => onEntry(e.key, { seq: e.revision, state: publishedOf(e.value) }) }, signal);
  }

  /** Follows the hosts bucket (snapshot, then updates) until `signal` aborts; restarts a watch that ends. */
  watchHosts(onHost: (id: string, reg: HostRegistration | null) => void, signal: AbortSignal, onSnapshot: () => void = () => undefined, known?: (id: string) => HostRegistration | undefined): Promise<void> {
    const onEntry = (e: KvWatchEntry) => {
      const h = decodeHostEntry(e.key, e.operation, e.value);
      if (h.kind !== "invalid") return onHost(e.key, h.kind === "registration" ? h.reg : null);
      this.options.onInvalid("registration", "malformed host registration");
      if (known) this.#restoreHost(e.key, known(e.key), e.revision);
    };
    return followBucket(this.hosts, { name: "hosts", log: this.options.log, onEntry, onSnapshot }, signal);
  }

  /**
   * A value in the hosts bucket that is no registration (nats-server stores there a JetStream
   * response an agent sent by reply subject: docs/architecture.md, "Reply subjects"): the host's
   * last registration is put back, or the key deleted when none is known, only while the key still
   * holds that value (a registration the agent put meanwhile is kept).
   */
  #restoreHost(hostId: string, reg: HostRegistration | undefined, revision: number): void {
    this.hostsRestored += 1;
    this.#restoreLog ??= new ThrottledLines(this.options.log, "unreadable values in the hosts bucket undone, not logged one by one", 10_000);
    this.#restoreLog.write("warn", "unreadable", { host: hostId, restored: !!reg }, "unreadable value in the hosts bucket; putting the host's registration back");
    const undo = reg ? this.hosts.update(hostId, enc.encode(JSON.stringify(reg)), revision) : this.hosts.delete(hostId, { previousSeq: revision });
    // refused when the key changed meanwhile: what is there now is judged as it comes
    undo.catch((error: unknown) => this.options.log.debug({ host: hostId, err: error }, "host registration not put back"));
  }

  /** Resolves with the bucket revision the put made. */
  putBan(key: string, envelope: SignedEnvelope): Promise<number> {
    return this.#puts.publish(kvSubject(BANS_BUCKET, key), enc.encode(envelopeText(envelope)));
  }

  /** Forgets a host: its registration and its desired state. */
  async deleteHost(hostId: string): Promise<void> {
    await this.hosts.delete(hostId);
    await this.desired.delete(hostId);
  }

  /** Deletes a key (a delete marker, as the KV API writes it); resolves with its revision. */
  async deleteBan(key: string): Promise<number> {
    const h = headers();
    h.set("KV-Operation", "DEL");
    return (await jetstream(this.nc).publish(kvSubject(BANS_BUCKET, key), new Uint8Array(0), { headers: h, timeout: 5000 })).seq;
  }

  /** Follows the bans bucket (the controller's own signed decisions) until aborted. */
  watchBans(onEntry: (key: string, d: BanDecision | null, seal?: string, revision?: number, storedAtMs?: number) => void, onSeal: (id: string, present: boolean, revision?: number) => void, signal: AbortSignal, onSnapshot: () => void, onUnreadable: (key: string) => void = () => undefined): Promise<void> {
    const hand = (e: KvWatchEntry) => {
      const b = decodeBanEntry(e.key, e.operation, e.value);
      if (b.kind === "seal") onSeal(b.id, b.present, e.revision);
      else if (b.kind === "deleted") onEntry(e.key, null, undefined, e.revision);
      else if (b.kind === "decision") onEntry(e.key, b.decision, b.seal, e.revision, e.created.getTime());
      else {
        this.options.onInvalid("decision", "stored ban decision does not parse");
        onUnreadable(e.key);
      }
    };
    return followBucket(this.bans, { name: "bans", log: this.options.log, onEntry: hand, onSnapshot }, signal);
  }

  /** Consumes the durable signals stream until aborted (signal-consumer.ts). */
  async consumeSignals(onSignal: (s: BanSignal) => Promise<void>, signal: AbortSignal): Promise<void> {
    await this.#signals.run(onSignal, signal);
  }

  /** How often the arbiter's consumer had to be made again. */
  get consumerRecreations(): number {
    return this.#signals.recreations;
  }

  /** The CLI's ban requests (ban-requests.ts). */
  serveBans(handlers: BanHandlers): void {
    serveBans(this.nc, handlers);
  }

  subscribeReports(onReport: (report: HostReport) => void): void {
    this.nc.subscribe(REPORT_WILDCARD, {
      callback: (err, msg) => {
        if (err) return;
        const subjectHost = msg.subject.split(".")[2] ?? "";
        // counted before parsing: a host past its rate costs a map lookup, not a parse (report-gate.ts)
        if (!this.#reportGate.take(subjectHost, Date.now())) {
          this.options.onInvalid("report-rate", "reports faster than the host's heartbeat allows");
          return;
        }
        const report = safeJson(msg.data, HostReport, "report");
        if (!report || report.hostId !== subjectHost) {
          this.options.onInvalid("report", "malformed, too large or too deep report, or host id does not match subject");
          return;
        }
        this.#reportGate.heartbeat(subjectHost, report.heartbeatMs);
        onReport(report);
      },
    });
  }

  serveStatus(status: () => FleetStatus): void {
    this.nc.subscribe(STATUS_REQUEST, {
      queue: "fleetwall-controller",
      callback: (err, msg) => {
        if (!err) msg.respond(enc.encode(JSON.stringify(status())));
      },
    });
  }

  async close(): Promise<void> {
    await closeNats(this.nc);
    this.#puts.close();
  }
}
