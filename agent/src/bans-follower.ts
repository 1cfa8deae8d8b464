import { setTimeout as sleep } from "node:timers/promises";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import { BANS_BUCKET, BANS_LIVE_PREFIX, BANS_REPUBLISH } from "@fleetwall/api";
import type { Logger } from "pino";
import { readBans, type NextBan } from "./bans-reader.js";

/**
 * A follower whose bucket holds a revision it has not delivered catches up. The check is one small
 * request: made every 2 s for a minute after the cluster changed under the link (a server left or
 * came back, a reconnect), otherwise every 5 s or so (jittered): at 10,000 agents some 4,000 small
 * requests a second, which a NATS server serves easily. Reconnects catch up at once.
 */
const WATCH_CHECK_MS = 2_000;
const WATCH_CALM_CHECK_MS = 5_000;
const WATCH_ALERT_MS = 60_000;
/** Live bans held while catching up; beyond this they are dropped and read by another round. */
export const HELD_LIVE_LIMIT = 20_000;

export interface FollowerOptions {
  nc: NatsConnection;
  kv: KV;
  /** Reads the bucket's stored entries by direct get (bans-reader.ts): a catch-up makes no consumer. */
  next: NextBan;
  log: Logger;
  signal: AbortSignal;
  heldLiveLimit: number;
  /** `storedAtMs`: when the bucket stored the entry, when known (replay protection). */
  onEntry: (key: string, data: Uint8Array | null, storedAtMs?: number) => void;
  /** Every entry the bucket held when a catch-up began has been delivered. */
  onSynced?: () => void;
  /** A live entry beyond the bucket's last revision was dropped (not from the bucket's stream). */
  onBogus: () => void;
}

const revisionOf = (m: Msg) => Number(m.headers?.get("Nats-Sequence") ?? 0);

/**
 * Follows the bans bucket in its order (see `AgentLink.watchBans`): live entries by subscription,
 * a catch-up by direct gets (no consumer) at the start, after a reconnect and whenever a revision is missing,
 * holding what arrives live meanwhile. The state the four actors share (subscription, catch-up,
 * status loop, watchdog) is this object's fields, each changed in one method.
 */
export class BansFollower {
  /** Every entry up to this revision has been delivered. */
  #last = 0;
  #lastAt = Date.now();
  /** Live entries held during a catch-up (undefined: live), and whether some did not fit. */
  #held: Msg[] | undefined = [];
  #overflow = false;
  #catching: Promise<void> | undefined;
  #warnedNoRepublish = false;
  #alertUntil = 0;
  #nextCheck = Date.now() + WATCH_CALM_CHECK_MS * (0.5 + Math.random());

  constructor(private readonly o: FollowerOptions) {}

  /** Until aborted: subscribes, catches up, and subscribes again if the server ends the subscription. */
  async run(): Promise<void> {
    const { nc, signal, log } = this.o;
    const statusLoop = this.#followStatus();
    const watchdog = setInterval(() => this.#check(), WATCH_CHECK_MS);
    watchdog.unref();
    let sub: Subscription | undefined;
    const abort = () => sub?.unsubscribe();
    signal.addEventListener("abort", abort, { once: true });
    try {
      while (!signal.aborted && !nc.isClosed()) {
        sub = nc.subscribe(`${BANS_LIVE_PREFIX}>`, { callback: (err, m) => this.#onLive(err, m) });
        // the server has the subscription before the bucket is read: no entry falls in between
        await nc.flush();
        await this.catchUp(this.#last ? "subscribed again" : "start");
        const ended = await sub.closed;
        if (signal.aborted || nc.isClosed()) break;
        // refused (permissions that predate this subscription) or ended by the server: say so and
        // subscribe again; the periodic check keeps the bans current meanwhile
        log.error({ subject: `${BANS_LIVE_PREFIX}>`, err: ended }, "bans subscription ended; subscribing again");
        await sleep(5_000, undefined, { signal, ref: false }).catch(() => undefined);
      }
      await this.#catching;
    } finally {
      clearInterval(watchdog);
      signal.removeEventListener("abort", abort);
      void statusLoop;
    }
  }

  #deliver(key: string, data: Uint8Array | null, revision: number, storedAtMs?: number): void {
    this.#last = revision;
    this.#lastAt = Date.now();
    this.o.onEntry(key, data, storedAtMs);
  }

  /** A live entry not held was stored as it arrives (`storedAtMs`; republished entries carry no time on 2.9). */
  #deliverLive(m: Msg, revision: number, storedAtMs?: number): void {
    // a deletion or purge carries no decision
    const op = m.headers?.get("KV-Operation");
    this.#deliver(m.subject.slice(BANS_LIVE_PREFIX.length), op ? null : m.data, revision, storedAtMs);
  }

  #onLive(error: Error | null, m: Msg): void {
    if (error) return;
    const revision = revisionOf(m);
    if (!(revision > 0)) return;
    if (this.#held) {
      if (this.#held.length < this.o.heldLiveLimit) this.#held.push(m);
      else this.#overflow = true;
      return;
    }
    if (revision <= this.#last) return;
    if (revision === this.#last + 1) return this.#deliverLive(m, revision, Date.now());
    this.#held = [m];
    void this.catchUp(`revisions ${this.#last + 1}–${revision - 1} not delivered live`);
  }

  /** Catches up (one at a time) until the bucket and what came live meanwhile are delivered without a hole. */
  catchUp(why: string): Promise<void> {
    this.#held ??= [];
    this.#catching ??= this.#catchUpLoop(why).finally(() => {
      this.#catching = undefined;
    });
    return this.#catching;
  }

  async #catchUpLoop(why: string): Promise<void> {
    const { signal, log } = this.o;
    log.info({ bucket: BANS_BUCKET, after: this.#last, why }, "catching up with the bans bucket");
    for (let delay = 500; !signal.aborted; delay = Math.min(delay * 2, 5_000)) {
      try {
        if (await this.#round()) {
          this.o.onSynced?.();
          return;
        }
        await sleep(Math.min(delay, 1_000), undefined, { signal, ref: false }).catch(() => undefined);
      } catch (error) {
        if (signal.aborted) return;
        log.warn({ bucket: BANS_BUCKET, after: this.#last, err: error, retryInMs: delay }, "bans catch-up failed; retrying");
        await sleep(delay, undefined, { signal, ref: false }).catch(() => undefined);
      }
    }
  }

  /** One round: the bucket up to its last revision, then what was held; true when no hole is left (live). */
  async #round(): Promise<boolean> {
    // what is held before the bucket is asked for its last revision cannot be later than it
    const heldBefore = this.#held?.length ?? 0;
    const status = await this.o.kv.status();
    const until = status.streamInfo.state.last_seq;
    if (status.streamInfo.config.republish?.dest !== BANS_REPUBLISH.dest && !this.#warnedNoRepublish) {
      this.#warnedNoRepublish = true;
      this.o.log.warn({ bucket: BANS_BUCKET }, "the bans bucket does not republish its entries (a controller older than this agent): bans follow by periodic catch-up only");
    }
    await readBans(this.o.next, this.#last, until, (k, d, r, at) => this.#deliver(k, d, r, at), this.o.signal);
    // revisions up to `until` the stream no longer holds were superseded by ones delivered or to come
    if (until > this.#last) this.#last = until;
    const queue: Msg[] = this.#held ?? [];
    if (this.#overflow) this.o.log.info({ bucket: BANS_BUCKET, after: this.#last, held: queue.length }, "more live bans came than can be held while catching up; reading the bucket again");
    // more came live than could be held: drop them all, the next round reads them from the bucket
    const gap = this.#overflow ? ((this.#held = []), true) : this.#replay(queue, heldBefore, until);
    this.#overflow = false;
    if (!gap) this.#held = undefined;
    return !gap;
  }

  /** Delivers held live entries in order; true (and the rest held again) at the first hole. */
  #replay(queue: Msg[], heldBefore: number, until: number): boolean {
    this.#held = [];
    for (let i = 0; i < queue.length; i += 1) {
      const m = queue[i] as Msg;
      const revision = revisionOf(m);
      if (revision <= this.#last) continue;
      if (i < heldBefore && revision > until) {
        // not from the bucket's stream (only a controller may publish there): never fillable
        this.o.onBogus();
        this.o.log.warn({ subject: m.subject, revision, bucketRevision: until }, "live ban entry beyond the bucket's last revision dropped");
        continue;
      }
      if (revision !== this.#last + 1) {
        this.#held = queue.slice(i);
        return true;
      }
      this.#deliverLive(m, revision);
    }
    return false;
  }

  /** Connection changes make the watchdog alert for a minute; a reconnect catches up at once. */
  async #followStatus(): Promise<void> {
    try {
      for await (const s of this.o.nc.status()) {
        if (this.o.signal.aborted) break;
        if (s.type === "reconnect" || s.type === "update" || s.type === "disconnect") this.#alertUntil = Date.now() + WATCH_ALERT_MS;
        if (s.type === "reconnect") void this.catchUp("reconnected");
      }
    } catch {
      // the connection closed: nothing more to follow
    }
  }

  /** The watchdog: asks the bucket for its last revision; behind with nothing delivered meanwhile means missed entries. */
  #check(): void {
    const now = Date.now();
    if (this.#catching || (now < this.#nextCheck && now > this.#alertUntil)) return;
    this.#nextCheck = now + WATCH_CALM_CHECK_MS * (0.75 + Math.random() / 2);
    const since = this.#lastAt;
    this.o.kv.status().then(
      (s) => {
        // behind, and nothing delivered since the check began: entries were not republished to us
        if (s.streamInfo.state.last_seq > this.#last && this.#lastAt === since && Date.now() - this.#lastAt >= WATCH_CHECK_MS) void this.catchUp("revisions not delivered");
      },
      (error: unknown) => this.o.log.debug({ bucket: BANS_BUCKET, err: error }, "bans check failed"),
    );
  }
}
