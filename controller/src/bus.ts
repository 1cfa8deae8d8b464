import { nanos, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
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
  parseEnvelopeText,
  type FleetStatus,
} from "@fleetwall/api";
import type { Logger } from "pino";
import { closeNats, connectNats, retry } from "@fleetwall/runtime";
import type { Published } from "./publisher.js";
import { AckedPublisher, PublishError } from "./acked-publisher.js";

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
    const kvm = new Kvm(nc);
    const desired = await kvm.create(DESIRED_BUCKET, { history: 1, replicas: options.replicas });
    const hosts = await kvm.create(HOSTS_BUCKET, { history: 1, replicas: options.replicas });
    // every stored decision is republished to a core subject agents subscribe to (link.ts watchBans)
    const republish = BANS_REPUBLISH;
    const bans = await kvm.create(BANS_BUCKET, { history: 1, replicas: options.replicas, republish });
    const jsm = await jetstreamManager(nc);
    const bansStream = (await bans.status()).streamInfo.config;
    if (bansStream.republish?.src !== republish.src || bansStream.republish?.dest !== republish.dest) {
      // a bucket made before decisions were republished: agents follow it by periodic catch-up only.
      // nats-server 2.9 refuses to add republishing to an existing stream: say what that costs.
      await jsm.streams.update(bansStream.name, { ...bansStream, republish }).then(
        () => options.log.info({ bucket: BANS_BUCKET, republish: republish.dest }, "bans bucket now republishes its entries"),
        (error: unknown) =>
          options.log.error({ bucket: BANS_BUCKET, err: error }, "bans bucket does not republish its entries and the server refused to add it: agents see bans only by periodic catch-up (seconds, not milliseconds) until the bucket is made again"),
      );
    }
    const stream = { name: SIGNALS_STREAM, subjects: [SIGNAL_WILDCARD], max_age: nanos(86400_000), num_replicas: options.replicas };
    await jsm.streams.add(stream).catch(async () => jsm.streams.update(SIGNALS_STREAM, stream));
    await jsm.consumers
      .add(SIGNALS_STREAM, { durable_name: "fleetwall-arbiter", ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: nanos(30_000) })
      .catch(() => undefined);
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

  async putDesired(hostId: string, text: string): Promise<void> {
    await this.#puts.publish(kvSubject(DESIRED_BUCKET, hostId), enc.encode(text));
  }

  /** Follows the hosts bucket (snapshot, then updates) until `signal` aborts; restarts a watch that ends. */
  async watchHosts(onHost: (id: string, reg: HostRegistration | null) => void, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const watch = await this.hosts.watch();
      const stop = () => watch.stop();
      signal.addEventListener("abort", stop, { once: true });
      for await (const e of watch) {
        if (e.operation !== "PUT") {
          onHost(e.key, null);
          continue;
        }
        const parsed = safeJson(e.value, HostRegistration);
        if (!parsed || parsed.hostId !== e.key) {
          this.options.onInvalid("registration", "malformed host registration");
          continue;
        }
        onHost(e.key, parsed);
      }
      signal.removeEventListener("abort", stop);
      if (!signal.aborted) this.options.log.warn("hosts watch ended; restarting");
    }
  }

  async putBan(key: string, envelope: SignedEnvelope): Promise<void> {
    await this.#puts.publish(kvSubject(BANS_BUCKET, key), enc.encode(envelopeText(envelope)));
  }

  async deleteBan(key: string): Promise<void> {
    await this.bans.delete(key);
  }

  /** Follows the bans bucket (the controller's own signed decisions) until aborted. */
  async watchBans(onEntry: (key: string, d: BanDecision | null, seal?: string) => void, onSeal: (id: string, present: boolean) => void, signal: AbortSignal, onSnapshot: () => void): Promise<void> {
    while (!signal.aborted) {
      const watch = await this.bans.watch();
      const stop = () => watch.stop();
      signal.addEventListener("abort", stop, { once: true });
      let initial = true;
      if ((await this.bans.status()).values === 0) {
        initial = false;
        onSnapshot();
      }
      let n = 0;
      for await (const e of watch) {
        if (e.key.startsWith(SEAL_KEY_PREFIX)) onSeal(e.key.slice(SEAL_KEY_PREFIX.length), e.operation === "PUT");
        else if (e.operation !== "PUT") onEntry(e.key, null);
        else {
          const env = parseEnvelopeText(dec.decode(e.value));
          const d = env.success ? parseBanDecision(env.data.payload) : undefined;
          if (d) onEntry(e.key, d, env.success ? env.data.seal : undefined);
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

  /** Consumes the durable signals stream: each signal is acknowledged only after `onSignal` handled it. */
  async consumeSignals(onSignal: (s: BanSignal) => Promise<void>, signal: AbortSignal): Promise<void> {
    const consumer = await jetstream(this.nc).consumers.get(SIGNALS_STREAM, "fleetwall-arbiter");
    while (!signal.aborted) {
      // short pulls: when the consumer's leader moves to another server (a cluster losing one), the
      // missing heartbeats are noticed within seconds, not the default half minute
      const messages = await consumer.consume({ max_messages: 256, expires: 5_000 });
      const stop = () => void messages.close();
      signal.addEventListener("abort", stop, { once: true });
      for await (const m of messages) {
        const parsed = safeJson(m.data, BanSignal);
        if (!parsed || parsed.hostId !== m.subject.split(".")[2]) {
          this.options.onInvalid("signal", "malformed signal or host id does not match subject");
          m.term();
          continue;
        }
        try {
          await onSignal(parsed);
          m.ack();
        } catch (error) {
          this.options.log.error({ err: error }, "signal not handled; it will be redelivered");
          m.nak(1000);
        }
      }
      signal.removeEventListener("abort", stop);
    }
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
  const env = parseEnvelopeText(dec.decode(data));
  if (!env.success) return undefined;
  try {
    const r = DesiredState.safeParse(JSON.parse(env.data.payload));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}
