import { setTimeout as sleep } from "node:timers/promises";
import { type Msg, type NatsConnection, type NodeConnectionOptions, type Subscription } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { jetstream } from "@nats-io/jetstream";
import { BANS_BUCKET, BANS_LIVE_PREFIX, BANS_REPUBLISH, DESIRED_BUCKET, HOSTS_BUCKET, reportSubject, signalSubject, type BanSignal, type HostRegistration, type HostReport } from "@fleetwall/api";
import { closeNats, connectNats, delay, retry } from "@fleetwall/runtime";
import type { Logger } from "pino";

const enc = new TextEncoder();

/**
 * A bans follower whose bucket holds a revision it has not delivered catches up. The check is one
 * small request: made every 2 s for a minute after the cluster changed under the link (a server
 * left or came back, a reconnect), otherwise every 5 s or so (jittered): at 10,000 agents some 4,000
 * small requests a second, which a NATS server serves easily. Reconnects catch up at once.
 */
const WATCH_CHECK_MS = 2_000;
const WATCH_CALM_CHECK_MS = 5_000;
const WATCH_ALERT_MS = 60_000;
/** A catch-up consumer that delivers nothing for this long is given up and made again. */
const CATCH_UP_STALL_MS = 10_000;
/** Live bans held while catching up; beyond this they are dropped and read by another round. */
const HELD_LIVE_LIMIT = 20_000;
/** How often an agent reads its stored desired state again besides after a reconnect (jittered ±25 %). */
const DESIRED_CHECK_MS = 30_000;

export interface LinkOptions {
  /** Servers, credentials and TLS; the link adds its own reconnect behaviour. */
  connection: NodeConnectionOptions;
  hostId: string;
  log: Logger;
  /** Live ban entries held while catching up (HELD_LIVE_LIMIT); tests make it small. */
  heldLiveLimit?: number;
}

/** The agent's NATS adapter: the only agent file that imports the NATS client. */
export class AgentLink {
  /** Live ban entries dropped because their revision was beyond the bucket's (not republished by it). */
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

  /**
   * Follows the bans bucket until aborted: every current decision, then each change, in the
   * bucket's order (null data for a deletion). Changes come through a core subscription to the
   * subjects the bucket's stream republishes them to (the controller configures it), each carrying
   * its revision: one JetStream consumer per agent cost the NATS server 0.21–0.29 ms of CPU per
   * decision and agent. Revisions of one stream follow each other without holes, so a revision that
   * skips one means entries were missed (a reconnect, a slow connection cut by the server): the
   * follower then catches up through a consumer from the last revision it delivered, holding what
   * arrives live meanwhile, and goes live again. The same catch-up reads the bucket at the start,
   * after every reconnect, and when a periodic check finds the bucket ahead with nothing delivered.
   */
  async watchBans(onEntry: (key: string, data: Uint8Array | null, storedAtMs?: number) => void, signal: AbortSignal): Promise<void> {
    const bans = await this.#bucket(BANS_BUCKET, signal);
    const log = this.options.log;
    /** Every entry up to this revision has been delivered. */
    let last = 0;
    let lastAt = Date.now();
    /** Live entries held during a catch-up (undefined: live), and whether some did not fit. */
    let held: Msg[] | undefined = [];
    let overflow = false;
    let catching: Promise<void> | undefined;
    let warnedNoRepublish = false;
    const deliver = (key: string, data: Uint8Array | null, revision: number, storedAtMs?: number) => {
      last = revision;
      lastAt = Date.now();
      onEntry(key, data, storedAtMs);
    };
    // a live entry not held was stored as it arrives (republished entries carry no time on 2.9)
    const deliverLive = (m: Msg, revision: number, storedAtMs?: number) => {
      // a deletion or purge carries no decision
      const op = m.headers?.get("KV-Operation");
      deliver(m.subject.slice(BANS_LIVE_PREFIX.length), op ? null : m.data, revision, storedAtMs);
    };
    const revisionOf = (m: Msg) => Number(m.headers?.get("Nats-Sequence") ?? 0);
    const catchUp = (why: string): Promise<void> => {
      held ??= [];
      catching ??= (async () => {
        log.info({ bucket: BANS_BUCKET, after: last, why }, "catching up with the bans bucket");
        for (let delay = 500; !signal.aborted; delay = Math.min(delay * 2, 5_000)) {
          try {
            // what is held before the bucket is asked for its last revision cannot be later than it
            const heldBefore = held?.length ?? 0;
            const status = await bans.status();
            const until = status.streamInfo.state.last_seq;
            if (status.streamInfo.config.republish?.dest !== BANS_REPUBLISH.dest && !warnedNoRepublish) {
              warnedNoRepublish = true;
              log.warn({ bucket: BANS_BUCKET }, "the bans bucket does not republish its entries (a controller older than this agent): bans follow by periodic catch-up only");
            }
            await this.#readBans(bans, last, until, deliver, signal);
            // then what came live meanwhile, in order; a hole means another round
            const queue: Msg[] = held ?? [];
            let gap = overflow;
            if (overflow) log.info({ bucket: BANS_BUCKET, after: last, held: queue.length }, "more live bans came than can be held while catching up; reading the bucket again");
            held = [];
            overflow = false;
            for (let i = 0; i < queue.length && !gap; i += 1) {
              const m = queue[i] as Msg;
              const revision = revisionOf(m);
              if (revision <= last) continue;
              if (i < heldBefore && revision > until) {
                // not from the bucket's stream (only a controller may publish there): never fillable
                this.bogusLive += 1;
                log.warn({ subject: m.subject, revision, bucketRevision: until }, "live ban entry beyond the bucket's last revision dropped");
                continue;
              }
              if (revision === last + 1) deliverLive(m, revision);
              else {
                gap = true;
                held = queue.slice(i);
              }
            }
            if (!gap) {
              held = undefined;
              return;
            }
            await sleep(Math.min(delay, 1_000), undefined, { signal, ref: false }).catch(() => undefined);
          } catch (error) {
            if (signal.aborted) return;
            log.warn({ bucket: BANS_BUCKET, after: last, err: error, retryInMs: delay }, "bans catch-up failed; retrying");
            await sleep(delay, undefined, { signal, ref: false }).catch(() => undefined);
          }
        }
      })().finally(() => {
        catching = undefined;
      });
      return catching;
    };
    const onLive = (error: Error | null, m: Msg) => {
      if (error) return;
      const revision = revisionOf(m);
      if (!(revision > 0)) return;
      if (held) {
        if (held.length < (this.options.heldLiveLimit ?? HELD_LIVE_LIMIT)) held.push(m);
        else overflow = true;
        return;
      }
      if (revision <= last) return;
      if (revision === last + 1) return deliverLive(m, revision, Date.now());
      held = [m];
      void catchUp(`revisions ${last + 1}–${revision - 1} not delivered live`);
    };

    let alertUntil = 0;
    let nextCheck = Date.now() + WATCH_CALM_CHECK_MS * (0.5 + Math.random());
    const statusLoop = (async () => {
      for await (const s of this.nc.status()) {
        if (signal.aborted) break;
        if (s.type === "reconnect" || s.type === "update" || s.type === "disconnect") alertUntil = Date.now() + WATCH_ALERT_MS;
        if (s.type === "reconnect") void catchUp("reconnected");
      }
    })().catch(() => undefined);
    const watchdog = setInterval(() => {
      const now = Date.now();
      if (catching || (now < nextCheck && now > alertUntil)) return;
      nextCheck = now + WATCH_CALM_CHECK_MS * (0.75 + Math.random() / 2);
      const since = lastAt;
      bans.status().then(
        (s) => {
          // behind, and nothing delivered since the check began: entries were not republished to us
          if (s.streamInfo.state.last_seq > last && lastAt === since && Date.now() - lastAt >= WATCH_CHECK_MS) void catchUp("revisions not delivered");
        },
        (error: unknown) => log.debug({ bucket: BANS_BUCKET, err: error }, "bans check failed"),
      );
    }, WATCH_CHECK_MS);
    watchdog.unref();
    let sub: Subscription | undefined;
    const abort = () => sub?.unsubscribe();
    signal.addEventListener("abort", abort, { once: true });
    try {
      while (!signal.aborted && !this.nc.isClosed()) {
        sub = this.nc.subscribe(`${BANS_LIVE_PREFIX}>`, { callback: onLive });
        // the server has the subscription before the bucket is read: no entry falls in between
        await this.nc.flush();
        await catchUp(last ? "subscribed again" : "start");
        const ended = await sub.closed;
        if (signal.aborted || this.nc.isClosed()) break;
        // refused (permissions that predate this subscription) or ended by the server: say so and
        // subscribe again; the periodic check keeps the bans current meanwhile
        log.error({ subject: `${BANS_LIVE_PREFIX}>`, err: ended }, "bans subscription ended; subscribing again");
        await sleep(5_000, undefined, { signal, ref: false }).catch(() => undefined);
      }
      await catching;
    } finally {
      clearInterval(watchdog);
      signal.removeEventListener("abort", abort);
      void statusLoop;
    }
  }

  /**
   * Delivers the bucket's entries after revision `after` through a consumer, until the entry at
   * `until` (or a later one) has come. A consumer that stops delivering is given up after
   * CATCH_UP_STALL_MS; the caller retries from the last revision delivered.
   */
  async #readBans(kv: KV, after: number, until: number, deliver: (key: string, data: Uint8Array | null, revision: number, storedAtMs?: number) => void, signal: AbortSignal): Promise<void> {
    if (until <= after) return;
    const watch = await kv.watch(after ? { resumeFromRevision: after + 1 } : {});
    let at = Date.now();
    const stop = () => watch.stop();
    signal.addEventListener("abort", stop, { once: true });
    const stall = setInterval(() => {
      if (Date.now() - at > CATCH_UP_STALL_MS) watch.stop();
    }, 1_000);
    stall.unref();
    let reached = after;
    try {
      let n = 0;
      for await (const e of watch) {
        at = Date.now();
        if (e.revision > reached) {
          reached = e.revision;
          deliver(e.key, e.operation === "PUT" ? e.value : null, e.revision, e.created.getTime());
        }
        if (reached >= until) break;
        // a backlog is handed over in microtasks; let the socket be read now and then, or the
        // server sees a slow consumer and cuts the connection
        if (++n % 256 === 0) await new Promise((r) => setImmediate(r));
      }
    } finally {
      clearInterval(stall);
      signal.removeEventListener("abort", stop);
      watch.stop();
    }
    if (reached < until && !signal.aborted) throw new Error(`the catch-up consumer ended at revision ${reached}, before ${until}`);
  }

  /** Publishes a detection to the signals stream; resolves once JetStream has stored it. */
  async publishSignal(sig: BanSignal): Promise<void> {
    await jetstream(this.nc).publish(signalSubject(this.options.hostId), enc.encode(JSON.stringify(sig)), { timeout: 2000 });
  }

  publishReport(report: HostReport): void {
    this.nc.publish(reportSubject(this.options.hostId), enc.encode(JSON.stringify(report)));
  }

  /** True when a round trip to the server completes within `timeoutMs`. */
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
