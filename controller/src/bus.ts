import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import {
  DESIRED_BUCKET,
  DesiredState,
  HOSTS_BUCKET,
  HostRegistration,
  HostReport,
  REPORT_WILDCARD,
  STATUS_REQUEST,
  SignedEnvelope,
  type FleetStatus,
} from "@fleetwall/api";
import type { Logger } from "pino";
import type { Published } from "./publisher.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface BusOptions {
  servers: string[];
  name: string;
  /** JetStream replicas for the buckets; 3 on a three-server cluster. */
  replicas: number;
  log: Logger;
  /** Called for every message dropped as malformed, with a short reason. */
  onInvalid: (kind: string, reason: string) => void;
}

/** The controller's NATS adapter: the only controller file that imports the NATS client. */
export class ControllerBus {
  private constructor(
    readonly nc: NatsConnection,
    private readonly desired: KV,
    private readonly hosts: KV,
    private readonly options: BusOptions,
  ) {}

  static async connect(options: BusOptions): Promise<ControllerBus> {
    const nc = await connect({ servers: options.servers, name: options.name, maxReconnectAttempts: -1, reconnectTimeWait: 500 });
    const kvm = new Kvm(nc);
    const desired = await kvm.create(DESIRED_BUCKET, { history: 1, replicas: options.replicas });
    const hosts = await kvm.create(HOSTS_BUCKET, { history: 1, replicas: options.replicas });
    return new ControllerBus(nc, desired, hosts, options);
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

  async putDesired(hostId: string, envelope: SignedEnvelope): Promise<void> {
    await this.desired.put(hostId, enc.encode(JSON.stringify(envelope)));
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
    await this.nc.drain().catch(() => this.nc.close());
  }
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
  const env = safeJson(data, SignedEnvelope);
  if (!env) return undefined;
  try {
    const r = DesiredState.safeParse(JSON.parse(env.payload));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}
