import { setTimeout as sleep } from "node:timers/promises";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import { BANS_BUCKET, BANS_LIVE_PREFIX, BANS_REPUBLISH } from "@fleetwall/api";
import type { Logger } from "pino";
import { logDropped } from "@fleetwall/runtime";
import { readBans, type NextBan } from "./bans-reader.js";
import { judgeLive } from "./bans-live.js";

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
/** The bytes of live bans held while catching up; beyond this they are dropped as beyond HELD_LIVE_LIMIT. */
export const HELD_LIVE_BYTES = 16 * 1024 * 1024;

export interface FollowerOptions {
  nc: NatsConnection;
  kv: KV;
  /** Reads the bucket's stored entries by direct get (bans-reader.ts): a catch-up makes no consumer. */
  next: NextBan;
  log: Logger;
  signal: AbortSignal;
  heldLiveLimit: number;
  /** HELD_LIVE_BYTES unless given. */
  heldLiveBytes?: number;
  /** `storedAtMs`: when the bucket stored the entry, when known (replay protection). */
  onEntry: (key: string, data: Uint8Array | null, storedAtMs?: number) => void;
  /** Every entry the bucket held when a catch-up began has been delivered. */
  onSynced?: () => void;
  /** A live entry was dropped: not republished by the bans bucket's stream, or beyond its last revision. */
  onBogus: () => void;
}

/** A live entry the bans bucket's stream republished (bans-live.ts), held while catching up. */
interface LiveEntry {
  key: string;
  revision: number;
  /** null: a deletion or purge, which carries no decision. */
  data: Uint8Array | null;
}

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
  #held: LiveEntry[] | undefined = [];
  #heldBytes = 0;
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
  #deliverLive(e: LiveEntry, storedAtMs?: number): void {
    this.#deliver(e.key, e.data, e.revision, storedAtMs);
  }

  #dropped(reason: string, subject: string, revision?: number, until?: number): void {
    this.o.onBogus();
    logDropped(this.o.log, { reason, subject, revision, bucketRevision: until }, "live ban entry dropped");
  }

  /**
   * A live message: judged by its headers before it can touch a revision, the held queue or start a
   * catch-up (anyone may have a direct get's answer sent here); one already delivered costs nothing.
   */
  #onLive(error: Error | null, m: Msg): void {
    if (error) return;
    const v = judgeLive(m.subject, m.headers);
    if (!v.ok) return this.#dropped(v.reason, m.subject);
    if (v.revision <= this.#last) return;
    const e: LiveEntry = { key: v.key, revision: v.revision, data: m.headers?.get("KV-Operation") ? null : m.data };
    if (this.#held) return this.#hold(e);
    if (e.revision === this.#last + 1) return this.#deliverLive(e, Date.now());
    this.#hold(e);
    void this.catchUp(`revisions ${this.#last + 1}–${e.revision - 1} not delivered live`);
  }

  /** Holds a live entry during a catch-up, within the held count and bytes; beyond them the round reads the bucket again. */
  #hold(e: LiveEntry): void {
    const held = (this.#held ??= []);
    const bytes = e.data?.length ?? 0;
    if (held.length >= this.o.heldLiveLimit || this.#heldBytes + bytes > (this.o.heldLiveBytes ?? HELD_LIVE_BYTES)) {
      this.#overflow = true;
      return;
    }
    held.push(e);
    this.#heldBytes += bytes;
  }

  #setHeld(held: LiveEntry[] | undefined): void {
    this.#held = held;
    this.#heldBytes = 0;
    for (const e of held ?? []) this.#heldBytes += e.data?.length ?? 0;
  }

  /** Catches up (one at a time) until the bucket and what came live meanwhile are delivered without a hole. */
  catchUp(why: string): Promise<void> {
    if (!this.#held) this.#setHeld([]);
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
    const queue: LiveEntry[] = this.#held ?? [];
    if (this.#overflow) this.o.log.info({ bucket: BANS_BUCKET, after: this.#last, held: queue.length }, "more live bans came than can be held while catching up; reading the bucket again");
    // more came live than could be held: drop them all, the next round reads them from the bucket
    const gap = this.#overflow ? (this.#setHeld([]), true) : this.#replay(queue, heldBefore, until);
    this.#overflow = false;
    if (!gap) this.#setHeld(undefined);
    return !gap;
  }

  /** Delivers held live entries in order; true (and the rest held again) at the first hole. */
  #replay(queue: LiveEntry[], heldBefore: number, until: number): boolean {
    this.#setHeld([]);
    for (let i = 0; i < queue.length; i += 1) {
      const e = queue[i] as LiveEntry;
      if (e.revision <= this.#last) continue;
      if (i < heldBefore && e.revision > until) {
        // held before the bucket was asked, yet beyond its last revision: never fillable
        this.#dropped("beyond the bucket's last revision", `${BANS_LIVE_PREFIX}${e.key}`, e.revision, until);
        continue;
      }
      if (e.revision !== this.#last + 1) {
        this.#setHeld(queue.slice(i));
        return true;
      }
      this.#deliverLive(e);
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
