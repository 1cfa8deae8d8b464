import { setTimeout as sleep } from "node:timers/promises";
import { type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { BANS_BUCKET, DESIRED_BUCKET, PROTECTION_BUCKET, PROTECTION_KEY, HOSTS_BUCKET, elementsSubject, liftSubject, reportSubject, signalSubject, type BanSignal, type HostRegistration, type HostReport } from "@fleetwall/api";
import { closeNats, connectNats, delay, logDropped, retry } from "@fleetwall/runtime";
import type { Logger } from "pino";
import { BansFollower, HELD_LIVE_LIMIT } from "./bans-follower.js";
import { directBans } from "./bans-reader.js";
import { DesiredDelivery } from "./desired-delivery.js";
import { reportText } from "./agent-report.js";

const enc = new TextEncoder();

export interface LinkOptions {
  /** Servers, credentials and TLS; the link adds its own reconnect behaviour. */
  connection: NodeConnectionOptions;
  hostId: string;
  log: Logger;
  /** Live ban entries held while catching up (HELD_LIVE_LIMIT in bans-follower.ts); tests make it small. */
  heldLiveLimit?: number;
  /** Their bytes (HELD_LIVE_BYTES in bans-follower.ts); tests make it small. */
  heldLiveBytes?: number;
  /** How often the registration is put again when it is gone from the bucket (REREGISTER_MS); tests make it short. */
  reregisterMs?: number;
}

/**
 * About how often (±50 %, so a fleet does not come at once) an agent puts its registration again if
 * the hosts bucket no longer holds any message for its key: lost some other way than an operator's
 * `hosts delete`, whose delete marker is respected (docs/architecture.md, "Trust model").
 */
export const REREGISTER_MS = 5 * 60_000;

/** The agent's NATS adapter: the only agent file that imports the NATS client. */
export class AgentLink {
  /**
   * Live messages dropped: ban entries not republished by the bans bucket's stream (bans-live.ts) or
   * beyond its last revision, and JetStream answers sent to a followed key or lift subject.
   */
  bogusLive = 0;

  private constructor(
    readonly nc: NatsConnection,
    private readonly options: LinkOptions,
    /** The agent stops: waits on the bus end (a round trip returns false at once). */
    private readonly stopping: AbortSignal,
  ) {}

  /**
   * Connects, waiting for the first server as long as it takes (the agent fails static meanwhile) or
   * until `signal` aborts.
   */
  static async connect(options: LinkOptions, signal: AbortSignal = new AbortController().signal): Promise<AgentLink> {
    const nc = await connectNats({ name: `fleetwall-agent-${options.hostId}`, ...options.connection }, signal, options.log);
    return new AgentLink(nc, options, signal);
  }

  /**
   * Runs `attempt` until it succeeds, waiting 200 ms, then twice as long each time up to 5 s; `retry`
   * hears of each failure. Rejects once `signal` has aborted.
   */
  #untilDone<T>(attempt: () => Promise<T>, signal: AbortSignal, onRetry: (error: unknown, delayMs: number) => void): Promise<T> {
    return retry(attempt, { signal, initialMs: 200, maxMs: 5000, onRetry });
  }

  /** Opens a bucket the controller creates, waiting for it to exist. */
  #bucket(name: string, signal: AbortSignal): Promise<KV> {
    const kvm = new Kvm(this.nc);
    // direct gets: an agent may read its own desired-state key that way, and no other (nats-permissions.ts)
    return this.#untilDone(() => kvm.open(name, { bindOnly: true, allow_direct: true }), signal, (err) => this.options.log.debug({ bucket: name, err }, "bucket not available yet"));
  }

  /**
   * Puts this host's registration into the hosts bucket, retrying until it is stored or `signal`
   * aborts: a NATS cluster that has just started refuses JetStream writes until its servers have
   * elected leaders ("jetstream is not enabled"), and an agent that gave up there never got a state.
   */
  async register(reg: HostRegistration, signal: AbortSignal): Promise<void> {
    const hosts = await this.#bucket(HOSTS_BUCKET, signal);
    const value = enc.encode(JSON.stringify(reg));
    await this.#untilDone(() => hosts.put(this.options.hostId, value), signal, (err, retryInMs) => this.options.log.warn({ err, retryInMs }, "registration not stored; retrying"));
    void this.#keepRegistered(hosts, value, signal);
  }

  /**
   * Until `signal` aborts, puts the registration again whenever its key holds no message at all
   * (Nats-Expected-Last-Subject-Sequence: 0: the server refuses the put while the key holds the
   * registration, a newer one, or an operator's delete marker). The agent cannot read the bucket.
   */
  async #keepRegistered(hosts: KV, value: Uint8Array, signal: AbortSignal): Promise<void> {
    const every = this.options.reregisterMs ?? REREGISTER_MS;
    while (await delay(every * (0.5 + Math.random()), signal, { ref: false })) {
      if (this.nc.isClosed()) return;
      try {
        await hosts.put(this.options.hostId, value, { previousSeq: 0 });
        this.options.log.warn("registration was gone from the hosts bucket: stored again");
      } catch (error) {
        // there (wrong last sequence), or the bus is down: checked again next time
        this.options.log.debug({ err: error }, "registration not put again");
      }
    }
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
    await this.#watchKey(DESIRED_BUCKET, this.options.hostId, onValue, signal);
  }

  /**
   * Delivers the fleet's protection list until aborted, as `watchDesired` delivers desired state:
   * the stored value, then each update by subscription to the key's subject (the only key of its
   * bucket an agent may read).
   */
  async watchProtection(onValue: (data: Uint8Array, stored: boolean) => Promise<void>, signal: AbortSignal): Promise<void> {
    await this.#watchKey(PROTECTION_BUCKET, PROTECTION_KEY, onValue, signal);
  }

  /** One key of a bucket: subscribe to its subject, read the stored value, then take updates; again after reconnects. */
  async #watchKey(bucket: string, key: string, onValue: (data: Uint8Array, stored: boolean) => Promise<void>, signal: AbortSignal): Promise<void> {
    const kv = await this.#bucket(bucket, signal);
    const subject = `$KV.${bucket}.${key}`;
    const delivery = new DesiredDelivery(kv, key, onValue, this.options.log.child({ bucket }));
    const reconnects = (async () => {
      for await (const s of this.nc.status()) {
        if (signal.aborted) break;
        if (s.type === "reconnect") void delivery.read();
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
        await delivery.read();
        delivery.startChecks(signal);
        let ended: unknown;
        try {
          for await (const m of updates) {
            // a direct get's answer sent here by another agent (it names its stream): dropped at once, unverified
            if (this.#answer(m.headers, subject)) continue;
            // a deletion or purge of the key carries no state
            if (m.headers?.get("KV-Operation")) continue;
            await delivery.deliver(m.data, false);
          }
        } catch (error) {
          ended = error;
        }
        if (signal.aborted || this.nc.isClosed()) break;
        // refused (permissions that predate this subscription) or ended by the server: say so, and
        // subscribe again; the periodic read keeps the state current meanwhile, if it may
        this.options.log.error({ subject, err: ended ?? (await updates.closed) }, "bucket key subscription ended; subscribing again");
        await sleep(5_000, undefined, { signal, ref: false }).catch(() => undefined);
      }
    } finally {
      delivery.stop();
      signal.removeEventListener("abort", abort);
      void reconnects;
    }
  }

  /**
   * Follows the bans bucket until aborted: every current decision, then each change, in the
   * bucket's order (null data for a deletion). Changes come through a core subscription to the
   * subjects the bucket's stream republishes them to (the controller configures it), each carrying
   * its revision: one JetStream consumer per agent cost the NATS server 0.21–0.29 ms of CPU per
   * decision and agent. Revisions of one stream follow each other without holes, so a revision that
   * skips one means entries were missed (a reconnect, a slow connection cut by the server): the
   * follower then catches up by JetStream direct gets (no consumer: an agent may not create one)
   * from the last revision it delivered, holding what arrives live meanwhile, and goes live again. The same catch-up reads the bucket at the start,
   * after every reconnect, and when a periodic check finds the bucket ahead with nothing delivered.
   */
  async watchBans(onEntry: (key: string, data: Uint8Array | null, storedAtMs?: number) => void, signal: AbortSignal, onSynced?: () => void): Promise<void> {
    const kv = await this.#bucket(BANS_BUCKET, signal);
    const jsm = await jetstreamManager(this.nc, { checkAPI: false });
    const follower = new BansFollower({
      nc: this.nc,
      kv,
      next: directBans(jsm.direct),
      log: this.options.log,
      signal,
      heldLiveLimit: this.options.heldLiveLimit ?? HELD_LIVE_LIMIT,
      ...(this.options.heldLiveBytes ? { heldLiveBytes: this.options.heldLiveBytes } : {}),
      onEntry,
      ...(onSynced ? { onSynced } : {}),
      onBogus: () => void (this.bogusLive += 1),
    });
    await follower.run();
  }

  /**
   * Whether a message on a followed key or lift subject is a JetStream answer (a direct get's carries
   * `Nats-Stream`; the controller's own puts and lift orders never do), which any agent can have sent
   * to these subjects as its reply subject: dropped and counted without parsing or verifying it.
   */
  #answer(headers: { get(name: string): string } | undefined, subject: string): boolean {
    if (!headers?.get("Nats-Stream")) return false;
    this.bogusLive += 1;
    logDropped(this.options.log, { reason: "a JetStream answer, not a published value", subject }, "message on a followed subject dropped");
    return true;
  }

  /** Publishes a detection to the signals stream; resolves once JetStream has stored it. */
  async publishSignal(sig: BanSignal): Promise<void> {
    await jetstream(this.nc).publish(signalSubject(this.options.hostId), enc.encode(JSON.stringify(sig)), { timeout: 2000 });
  }

  /** Delivers the controller's orders to lift a local ban of this host until aborted (verified by the caller). */
  async watchLifts(onLift: (data: Uint8Array) => void, signal: AbortSignal): Promise<void> {
    const sub = this.nc.subscribe(liftSubject(this.options.hostId), { callback: (err, m) => {
        if (!err && !this.#answer(m.headers, m.subject)) onLift(m.data);
      } });
    const stop = () => sub.unsubscribe();
    signal.addEventListener("abort", stop, { once: true });
    await sub.closed;
    signal.removeEventListener("abort", stop);
  }

  /**
   * Answers operators' element listings on this host's own subject until aborted; only through the
   * request's reply subject (the server allows an agent one response per request, nothing else there).
   */
  async serveElements(answer: (request: Uint8Array, maxBytes: number) => Promise<Uint8Array>, signal: AbortSignal): Promise<void> {
    const sub = this.nc.subscribe(elementsSubject(this.options.hostId), { callback: (err, m) => {
        if (err || !m.reply) return;
        void answer(m.data, this.nc.info?.max_payload ?? 1024 * 1024).then((bytes) => m.respond(bytes), (error: unknown) => this.options.log.warn({ err: error }, "ban elements not answered"));
      } });
    const stop = () => sub.unsubscribe();
    signal.addEventListener("abort", stop, { once: true });
    await sub.closed;
    signal.removeEventListener("abort", stop);
  }

  publishReport(report: HostReport): void {
    this.nc.publish(reportSubject(this.options.hostId), enc.encode(reportText(report)));
  }

  /** Whether the server answers within `timeoutMs`; false at once when the agent stops meanwhile. */
  async roundTrip(timeoutMs: number): Promise<boolean> {
    const answered = new AbortController();
    try {
      return await Promise.race([
        this.nc.flush().then(() => true, () => false),
        delay(timeoutMs, AbortSignal.any([this.stopping, answered.signal])).then(() => false),
      ]);
    } finally {
      answered.abort();
    }
  }

  async close(): Promise<void> {
    await closeNats(this.nc);
  }
}
