import { headers, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import { jetstream } from "@nats-io/jetstream";
import { delay, untilAborted } from "@fleetwall/runtime";
import { setUpStreams } from "./bus-limits.js";
import { SignalConsumer } from "./signal-consumer.js";
import {
  BANS_BUCKET,
  BANS_REPUBLISH,
  BAN_ADD_REQUEST,
  BAN_DELETE_REQUEST,
  BAN_IMPORT_REQUEST,
  BanAddRequest,
  BanImportRequest,
  BanDecision,
  BanDeleteRequest,
  BanSignal,
  SEAL_KEY_PREFIX,
  SIGNALS_STREAM,
  SIGNAL_WILDCARD,
  type BanReply,
  DESIRED_BUCKET,
  DesiredState,
  HOSTS_BUCKET,
  HostRegistration,
  HostReport,
  REPORT_WILDCARD,
  STATUS_REQUEST,
  SignedEnvelope,
  envelopeText,
  parseBanDecision,
  parseEnvelopeBytes,
  parseEnvelopeText,
  type FleetStatus,
} from "@fleetwall/api";
import type { Logger } from "pino";
import { closeNats, connectNats, retry } from "@fleetwall/runtime";
import type { Published } from "./publisher.js";
import type { DesiredEntry } from "./desired-witness.js";
import { AckedPublisher, PublishError } from "./acked-publisher.js";
import { maxDesiredBytes } from "./bus-limits.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface BusOptions {
  /** Servers, name, credentials and TLS; the bus adds its own reconnect behaviour. */
  connection: NodeConnectionOptions;
  /** JetStream replicas for the buckets; 3 on a three-server cluster. */
  replicas: number;
  log: Logger;
  /** Called for every message dropped as malformed, with a short reason. */
  onInvalid: (kind: string, reason: string) => void;
}

/**
 * The controller's NATS adapter: with the publisher it puts through (acked-publisher.ts), the only
 * controller code that imports the NATS client.
 */
export class ControllerBus {
  readonly #signals: SignalConsumer;
  /** Puts to the desired and bans buckets: thousands a second on a fleet-wide change or an import. */
  readonly #puts: AckedPublisher;

  private constructor(
    readonly nc: NatsConnection,
    private readonly desired: KV,
    private readonly hosts: KV,
    private readonly bans: KV,
    private readonly options: BusOptions,
  ) {
    this.#puts = new AckedPublisher(nc);
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
    const { desired, hosts, bans } = await setUpStreams(nc, options.replicas, options.log);
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
   * A bucket watch, opened unless `signal` aborts first (with NATS gone, opening waits for the bus).
   * A failure to open is logged and waited out for a second, so a bus outage never ends the process.
   */
  async #opened<W extends { stop(): void }>(name: string, open: () => Promise<W>, signal: AbortSignal): Promise<W | undefined> {
    try {
      return await untilAborted(open(), signal, (late) => late.stop());
    } catch (error) {
      if (signal.aborted) return undefined;
      this.options.log.warn({ bucket: name, err: error }, "bucket watch not opened; retrying");
      await delay(1000, signal);
      return undefined;
    }
  }

  /**
   * Follows the desired bucket (each key's last value, then every put) until `signal` aborts, handing
   * on each put's stream sequence and the revision and hash it holds, so the leader can tell another
   * writer's puts from its own. Deletes are not handed on: the controller's own `hosts delete` makes them.
   */
  async watchDesired(onEntry: (hostId: string, entry: DesiredEntry) => void, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const watch = await this.#opened("desired", () => this.desired.watch({ ignoreDeletes: true }), signal);
      if (!watch) continue;
      const stop = () => watch.stop();
      signal.addEventListener("abort", stop, { once: true });
      let n = 0;
      for await (const e of watch) {
        if (e.operation === "PUT") onEntry(e.key, { seq: e.revision, state: publishedOf(e.value) });
        if (++n % 256 === 0) await new Promise((r) => setImmediate(r));
      }
      signal.removeEventListener("abort", stop);
      if (!signal.aborted) this.options.log.warn("desired watch ended; restarting");
    }
  }

  /** Follows the hosts bucket (snapshot, then updates) until `signal` aborts; restarts a watch that ends. */
  async watchHosts(onHost: (id: string, reg: HostRegistration | null) => void, signal: AbortSignal, onSnapshot: () => void = () => undefined): Promise<void> {
    while (!signal.aborted) {
      const watch = await this.#opened("hosts", () => this.hosts.watch(), signal);
      if (!watch) continue;
      const stop = () => watch.stop();
      signal.addEventListener("abort", stop, { once: true });
      const values = await untilAborted(this.hosts.status(), signal).then((st) => st.values, () => undefined);
      if (values === undefined) {
        signal.removeEventListener("abort", stop);
        stop();
        continue;
      }
      let initial = values > 0;
      if (!initial) onSnapshot();
      for await (const e of watch) {
        const parsed = e.operation === "PUT" ? safeJson(e.value, HostRegistration) : null;
        if (e.operation !== "PUT") onHost(e.key, null);
        else if (!parsed || parsed.hostId !== e.key) this.options.onInvalid("registration", "malformed host registration");
        else onHost(e.key, parsed);
        if (initial && e.delta === 0) {
          initial = false;
          onSnapshot();
        }
      }
      signal.removeEventListener("abort", stop);
      if (!signal.aborted) this.options.log.warn("hosts watch ended; restarting");
    }
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
  async watchBans(onEntry: (key: string, d: BanDecision | null, seal?: string, revision?: number, storedAtMs?: number) => void, onSeal: (id: string, present: boolean, revision?: number) => void, signal: AbortSignal, onSnapshot: () => void): Promise<void> {
    while (!signal.aborted) {
      const watch = await this.#opened("bans", () => this.bans.watch(), signal);
      if (!watch) continue;
      const stop = () => watch.stop();
      signal.addEventListener("abort", stop, { once: true });
      let initial = true;
      const values = await untilAborted(this.bans.status(), signal).then((st) => st.values, () => undefined);
      if (values === undefined) {
        signal.removeEventListener("abort", stop);
        stop();
        continue;
      }
      if (values === 0) {
        initial = false;
        onSnapshot();
      }
      let n = 0;
      for await (const e of watch) {
        if (e.key.startsWith(SEAL_KEY_PREFIX)) onSeal(e.key.slice(SEAL_KEY_PREFIX.length), e.operation === "PUT", e.revision);
        else if (e.operation !== "PUT") onEntry(e.key, null, undefined, e.revision);
        else {
          const env = parseEnvelopeText(dec.decode(e.value));
          const d = env.success ? parseBanDecision(env.data.payload) : undefined;
          if (d) onEntry(e.key, d, env.success ? env.data.seal : undefined, e.revision, e.created.getTime());
          else this.options.onInvalid("decision", "stored ban decision does not parse");
        }
        if (initial && e.delta === 0) {
          initial = false;
          onSnapshot();
        }
        if (++n % 256 === 0) await new Promise((r) => setImmediate(r));
      }
      signal.removeEventListener("abort", stop);
      if (!signal.aborted) this.options.log.warn("bans watch ended; restarting");
    }
  }

  /** Consumes the durable signals stream until aborted (signal-consumer.ts). */
  async consumeSignals(onSignal: (s: BanSignal) => Promise<void>, signal: AbortSignal): Promise<void> {
    await this.#signals.run(onSignal, signal);
  }

  /** How often the arbiter's consumer had to be made again. */
  get consumerRecreations(): number {
    return this.#signals.recreations;
  }

  serveBans(
    add: (r: ReturnType<typeof BanAddRequest.parse>) => Promise<BanReply>,
    del: (cidr: string) => Promise<BanReply>,
    imp: (r: ReturnType<typeof BanImportRequest.parse>) => Promise<BanReply>,
  ): void {
    const serve = (subject: string, handle: (data: unknown) => Promise<BanReply>) =>
      this.nc.subscribe(subject, {
        queue: "fleetwall-controller",
        callback: (err, msg) => {
          if (err) return;
          let data: unknown;
          try {
            data = JSON.parse(dec.decode(msg.data));
          } catch {
            data = undefined;
          }
          handle(data)
            .catch((e: unknown) => ({ ok: false, error: String(e), keys: [] }))
            .then((reply) => msg.respond(enc.encode(JSON.stringify(reply))));
        },
      });
    serve(BAN_ADD_REQUEST, async (data) => {
      const r = BanAddRequest.safeParse(data);
      return r.success ? add(r.data) : { ok: false, error: "malformed ban request", keys: [] };
    });
    serve(BAN_IMPORT_REQUEST, async (data) => {
      const r = BanImportRequest.safeParse(data);
      return r.success ? imp(r.data) : { ok: false, error: "malformed import request", keys: [] };
    });
    serve(BAN_DELETE_REQUEST, async (data) => {
      const r = BanDeleteRequest.safeParse(data);
      return r.success ? del(r.data.cidr) : { ok: false, error: "malformed ban request", keys: [] };
    });
  }

  subscribeReports(onReport: (report: HostReport) => void): void {
    this.nc.subscribe(REPORT_WILDCARD, {
      callback: (err, msg) => {
        if (err) return;
        const report = safeJson(msg.data, HostReport);
        const subjectHost = msg.subject.split(".")[2];
        if (!report || report.hostId !== subjectHost) {
          this.options.onInvalid("report", "malformed report or host id does not match subject");
          return;
        }
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

const KV_KEY = /^[-/_=a-zA-Z0-9]+(?:\.[-/_=a-zA-Z0-9]+)*$/;

/** The subject a KV put of `key` is published to; keys as the KV API accepts them (no wildcards, no empty tokens). */
function kvSubject(bucket: string, key: string): string {
  if (!KV_KEY.test(key)) throw new PublishError(`invalid key ${JSON.stringify(key)} for bucket ${bucket}`);
  return `$KV.${bucket}.${key}`;
}

function safeJson<T>(data: Uint8Array, schema: { safeParse(v: unknown): { success: true; data: T } | { success: false } }): T | undefined {
  try {
    const r = schema.safeParse(JSON.parse(dec.decode(data)));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

function decodeDesired(data: Uint8Array): DesiredState | undefined {
  const env = parseEnvelopeBytes(data);
  if (!env.success) return undefined;
  try {
    const r = DesiredState.safeParse(JSON.parse(env.data.payload));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** The revision and hash a desired-state value names (no schema check: only to compare with what was put). */
function publishedOf(data: Uint8Array): Published | undefined {
  const env = parseEnvelopeBytes(data);
  if (!env.success) return undefined;
  try {
    const state = JSON.parse(env.data.payload) as { revision?: unknown; hash?: unknown };
    return typeof state.revision === "number" && typeof state.hash === "string" ? { revision: state.revision, hash: state.hash } : undefined;
  } catch {
    return undefined;
  }
}
