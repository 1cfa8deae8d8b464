import { setTimeout as sleep } from "node:timers/promises";
import { connect, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { jetstream } from "@nats-io/jetstream";
import { BANS_BUCKET, DESIRED_BUCKET, HOSTS_BUCKET, reportSubject, signalSubject, type BanSignal, type HostRegistration, type HostReport } from "@fleetwall/api";
import type { Logger } from "pino";

const enc = new TextEncoder();

/**
 * A watch whose bucket holds a revision it has not delivered is restarted. The check is one small
 * request: made every 2 s for a minute after the cluster changed under the link (a server left or
 * came back, a reconnect), otherwise every 5 s or so (jittered): at 10,000 agents some 4,000 small
 * requests a second, which a NATS server serves easily. The watch consumer nats.js creates
 * sends heartbeats only every 30 s, too slow to notice its loss. Reconnects restart watches at once.
 */
const WATCH_CHECK_MS = 2_000;
const WATCH_CALM_CHECK_MS = 5_000;
const WATCH_ALERT_MS = 60_000;
/** How often an agent reads its stored desired state again besides after a reconnect (jittered ±25 %). */
const DESIRED_CHECK_MS = 30_000;

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
        // direct gets: an agent may read its own desired-state key that way, and no other (nats-permissions.ts)
        return await kvm.open(name, { bindOnly: true, allow_direct: true });
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

  /**
   * Delivers this host's desired state until aborted: the stored value, then each update as the
   * controller publishes it. Updates come through a core subscription to the key's subject, not a
   * JetStream consumer: a consumer per agent cost the NATS server about 1 ms of CPU per delivery of
   * a 26 KB state (1.0–1.4 s for a change to 1,000 hosts, 0.23–0.27 s through subscriptions). What a
   * subscription cannot see, an update published while the link was down, is covered by reading
   * the stored value again after every reconnect and every half minute. `stored` marks a value read
   * from the bucket: it may be older than an update already delivered.
   */
  async watchDesired(onValue: (data: Uint8Array, stored: boolean) => Promise<void>, signal: AbortSignal): Promise<void> {
    const desired = await this.#bucket(DESIRED_BUCKET, signal);
    const key = this.options.hostId;
    const subject = `$KV.${DESIRED_BUCKET}.${key}`;
    let last: Uint8Array | undefined;
    let readRevision = 0;
    const deliver = async (data: Uint8Array, stored: boolean) => {
      if (last && Buffer.compare(last, data) === 0) return; // the same state again
      last = data;
      await onValue(data, stored);
    };
    const read = async () => {
      try {
        const e = await desired.get(key);
        if (!e || e.operation !== "PUT" || e.revision === readRevision) return;
        readRevision = e.revision;
        await deliver(e.value, true);
      } catch (error) {
        this.options.log.warn({ bucket: DESIRED_BUCKET, key, err: error }, "stored desired state not read");
      }
    };
    let timer: NodeJS.Timeout | undefined;
    const check = () => {
      if (signal.aborted) return;
      timer = setTimeout(() => void read().finally(check), DESIRED_CHECK_MS * (0.75 + Math.random() / 2));
      timer.unref();
    };
    const reconnects = (async () => {
      for await (const s of this.nc.status()) {
        if (signal.aborted) break;
        if (s.type === "reconnect") void read();
      }
    })().catch(() => undefined);
    let stop = () => {};
    const abort = () => stop();
    signal.addEventListener("abort", abort, { once: true });
    try {
      while (!signal.aborted && !this.nc.isClosed()) {
        const updates = this.nc.subscribe(subject);
        stop = () => updates.unsubscribe();
        // the server has the subscription before the stored value is read: no update falls in between
        await this.nc.flush();
        await read();
        if (!timer) check();
        let ended: unknown;
        try {
          for await (const m of updates) {
            // a deletion or purge of the key carries no state
            if (m.headers?.get("KV-Operation")) continue;
            await deliver(m.data, false);
          }
        } catch (error) {
          ended = error;
        }
        if (signal.aborted || this.nc.isClosed()) break;
        // refused (permissions that predate this subscription) or ended by the server: say so, and
        // subscribe again; the periodic read keeps the state current meanwhile, if it may
        this.options.log.error({ subject, err: ended ?? (await updates.closed) }, "desired-state subscription ended; subscribing again");
        await sleep(5_000, undefined, { signal, ref: false }).catch(() => undefined);
      }
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", abort);
      void reconnects;
    }
  }

  /** Follows the bans bucket: every current decision, then each change (null data for a deletion). */
  async watchBans(onEntry: (key: string, data: Uint8Array | null) => Promise<void> | void, signal: AbortSignal): Promise<void> {
    const bans = await this.#bucket(BANS_BUCKET, signal);
    await this.#follow(BANS_BUCKET, bans, onEntry, async () => (await bans.status()).streamInfo.state.last_seq, signal);
  }

  /**
   * Follows a whole bucket until aborted. The server-side consumer of a watch lives on
   * one server: when the link reconnects, or when the bucket holds a revision the watch has not
   * delivered for a while (the consumer died with its server), the watch is restarted after the
   * last revision delivered, so nothing is missed and nothing is read twice.
   */
  async #follow(bucket: string, kv: KV, onEntry: (key: string, data: Uint8Array | null) => Promise<void> | void, latest: () => Promise<number>, signal: AbortSignal): Promise<void> {
    let last = 0;
    let lastAt = Date.now();
    let watch: Awaited<ReturnType<KV["watch"]>> | undefined;
    let alertUntil = 0;
    let nextCheck = Date.now() + WATCH_CALM_CHECK_MS * (0.5 + Math.random());
    const restart = (why: string) => {
      if (!watch) return;
      this.options.log.info({ bucket: bucket, after: last, why }, "watch restarted");
      watch.stop();
    };
    const statusLoop = (async () => {
      for await (const s of this.nc.status()) {
        if (signal.aborted) break;
        if (s.type === "reconnect" || s.type === "update" || s.type === "disconnect") alertUntil = Date.now() + WATCH_ALERT_MS;
        if (s.type === "reconnect") restart("reconnected");
      }
    })().catch(() => undefined);
    const watchdog = setInterval(() => {
      const now = Date.now();
      if (now < nextCheck && now > alertUntil) return;
      nextCheck = now + WATCH_CALM_CHECK_MS * (0.75 + Math.random() / 2);
      const since = lastAt;
      latest().then((rev) => {
        // behind, and nothing delivered since the check began: the consumer is gone
        if (rev > last && lastAt === since && Date.now() - lastAt >= WATCH_CHECK_MS) restart("revisions not delivered");
      }, (error: unknown) => this.options.log.debug({ bucket, err: error }, "watch check failed"));
    }, WATCH_CHECK_MS);
    watchdog.unref();
    try {
      while (!signal.aborted) {
        try {
          watch = await kv.watch(last ? { resumeFromRevision: last + 1 } : {});
        } catch (error) {
          this.options.log.warn({ bucket: bucket, err: error }, "watch not started; retrying");
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
        const stop = () => watch?.stop();
        signal.addEventListener("abort", stop, { once: true });
        let n = 0;
        for await (const e of watch) {
          last = e.revision;
          lastAt = Date.now();
          await onEntry(e.key, e.operation === "PUT" ? e.value : null);
          // a backlog is handed over in microtasks; let the socket be read now and then, or the
          // server sees a slow consumer and cuts the connection
          if (++n % 256 === 0) await new Promise((r) => setImmediate(r));
        }
        signal.removeEventListener("abort", stop);
        lastAt = Date.now();
      }
    } finally {
      clearInterval(watchdog);
      void statusLoop;
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
