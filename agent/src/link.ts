import { connect, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { jetstream } from "@nats-io/jetstream";
import { BANS_BUCKET, DESIRED_BUCKET, HOSTS_BUCKET, reportSubject, signalSubject, type BanSignal, type HostRegistration, type HostReport } from "@fleetwall/api";
import type { Logger } from "pino";

const enc = new TextEncoder();

export interface LinkOptions {
  /** Servers, credentials and TLS; the link adds its own reconnect behaviour. */
  connection: NodeConnectionOptions;
  hostId: string;
  log: Logger;
}

/** The agent's NATS adapter: the only agent file that imports the NATS client. */
export class AgentLink {
  private constructor(
    readonly nc: NatsConnection,
    private readonly options: LinkOptions,
  ) {}

  /** Connects, waiting for the first server as long as it takes (the agent fails static meanwhile). */
  static async connect(options: LinkOptions): Promise<AgentLink> {
    const nc = await connect({
      name: `fleetwall-agent-${options.hostId}`,
      ...options.connection,
      waitOnFirstConnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      // no stack capture per request: it costs more than the request itself under load
      noAsyncTraces: true,
    });
    return new AgentLink(nc, options);
  }

  /** Opens a bucket the controller creates, waiting for it to exist. */
  async #bucket(name: string, signal: AbortSignal): Promise<KV> {
    const kvm = new Kvm(this.nc);
    let delay = 200;
    for (;;) {
      try {
        return await kvm.open(name, { bindOnly: true });
      } catch (error) {
        if (signal.aborted) throw error;
        this.options.log.debug({ bucket: name, err: error }, "bucket not available yet");
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  async register(reg: HostRegistration, signal: AbortSignal): Promise<void> {
    const hosts = await this.#bucket(HOSTS_BUCKET, signal);
    await hosts.put(this.options.hostId, enc.encode(JSON.stringify(reg)));
  }

  /** Delivers the raw bytes of this host's desired-state key (snapshot, then every update) until aborted. */
  async watchDesired(onValue: (data: Uint8Array) => Promise<void>, signal: AbortSignal): Promise<void> {
    const desired = await this.#bucket(DESIRED_BUCKET, signal);
    while (!signal.aborted) {
      const watch = await desired.watch({ key: this.options.hostId });
      const stop = () => watch.stop();
      signal.addEventListener("abort", stop, { once: true });
      for await (const e of watch) {
        if (e.operation === "PUT") await onValue(e.value);
      }
      signal.removeEventListener("abort", stop);
      if (!signal.aborted) this.options.log.warn("desired-state watch ended; restarting");
    }
  }

  /** Follows the bans bucket: every current decision, then each change (null data for a deletion). */
  async watchBans(onEntry: (key: string, data: Uint8Array | null) => Promise<void> | void, signal: AbortSignal): Promise<void> {
    const bans = await this.#bucket(BANS_BUCKET, signal);
    while (!signal.aborted) {
      const watch = await bans.watch();
      const stop = () => watch.stop();
      signal.addEventListener("abort", stop, { once: true });
      let n = 0;
      for await (const e of watch) {
        await onEntry(e.key, e.operation === "PUT" ? e.value : null);
        // a backlog is handed over in microtasks; let the socket be read now and then, or the
        // server sees a slow consumer and cuts the connection
        if (++n % 256 === 0) await new Promise((r) => setImmediate(r));
      }
      signal.removeEventListener("abort", stop);
      if (!signal.aborted) this.options.log.warn("bans watch ended; restarting");
    }
  }

  /** Publishes a detection to the signals stream; resolves once JetStream has stored it. */
  async publishSignal(sig: BanSignal): Promise<void> {
    await jetstream(this.nc).publish(signalSubject(this.options.hostId), enc.encode(JSON.stringify(sig)), { timeout: 2000 });
  }

  publishReport(report: HostReport): void {
    this.nc.publish(reportSubject(this.options.hostId), enc.encode(JSON.stringify(report)));
  }

  /** True when a round trip to the server completes within `timeoutMs`. */
  async roundTrip(timeoutMs: number): Promise<boolean> {
    const timer = new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref());
    return Promise.race([this.nc.flush().then(() => true, () => false), timer]);
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => this.nc.close());
  }
}
