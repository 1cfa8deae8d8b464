import { SCHEMA_VERSION, SEAL_KEY_PREFIX, parseCidr, specialAddressReason, type BanSignal, type JailIR, type Labels } from "@fleetwall/api";
import { ThrottledLines, logDropped, retry } from "@fleetwall/runtime";
import type { Logger } from "pino";
import type { BanSync } from "./bans.js";
import { decisionEntry, rememberingParse } from "./bans-decision.js";
import type { JailBan } from "./jail-counter.js";
import { DecisionReader, verifySeal } from "./verify.js";
import { LiftVerifier } from "./lift.js";

export interface SignalSink {
  publishSignal(sig: BanSignal): Promise<void>;
}

const dec = new TextDecoder();
const OUTBOX_LIMIT = 100_000;
/** A detection is shared with the fleet once it is banned here, or after this long if nft is busy. */
const LOCAL_FIRST_MS = 50;

/**
 * The agent's ban side: local jail detections are banned at once and queued as signals for the
 * fleet (kept and retried while the bus is away); decisions from the bans bucket are verified and
 * mirrored into the kernel's sets.
 */
export class Defender {
  #outbox: BanSignal[] = [];
  /** Verified seals: id → the payload hashes they cover. */
  #seals = new Map<string, Set<string>>();
  #reader = new DecisionReader();
  #parseTime = rememberingParse();
  #draining = false;
  #lifts: LiftVerifier;
  readonly #closed = new AbortController();
  droppedDecisions = 0;
  signalsSent = 0;
  /** Jail bans not made, by why: a special address, or one this host protects (allowlisted). */
  readonly skipped = { special: 0, protected: 0 };
  /** A crafted log line per protected address is one line per reason every 10 s, then a count. */
  readonly #skippedLog: ThrottledLines;
  /** Decisions dropped (forged, replayed): one line per reason every 10 s, then a count (`droppedDecisions` counts each). */
  readonly #droppedLog: ThrottledLines;

  constructor(
    readonly bans: BanSync,
    private readonly hostId: string,
    private readonly labels: Labels,
    private readonly trustedKey: () => string | undefined,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.#lifts = new LiftVerifier(hostId, now);
    this.#skippedLog = new ThrottledLines(log, "jail bans of protected addresses skipped, not logged one by one", 10_000, now);
    this.#droppedLog = new ThrottledLines(log, "ban decisions dropped, not logged one by one", 10_000, now);
  }

  /** A jail crossed maxRetry: ban here now; share with the fleet when the jail says so. */
  onJailBan(ban: JailBan, jail: JailIR, sink: SignalSink | undefined): void {
    const special = specialAddressReason(parseCidr(ban.address));
    if (special) {
      this.skipped.special += 1;
      this.#skippedLog.write("info", "special", { jail: jail.name, address: ban.address, reason: special }, "special address not banned");
      return;
    }
    // Allow lists, this host's own and NATS addresses, its management sources and the fleet's protection list
    if (this.bans.allowed(ban.address)) {
      this.skipped.protected += 1;
      this.#skippedLog.write("info", "protected", { jail: jail.name, address: ban.address }, "allowlisted address not banned");
      return;
    }
    const local = this.bans.setLocal(jail.name, ban.address, ban.banSeconds);
    this.log.warn({ jail: jail.name, address: ban.address, failures: ban.failures, seconds: ban.banSeconds }, "banned locally");
    if (jail.share !== "Fleet") return;
    if (this.#outbox.length >= OUTBOX_LIMIT) this.#outbox.shift();
    this.#outbox.push({
      schemaVersion: SCHEMA_VERSION,
      hostId: this.hostId,
      jail: jail.name,
      address: ban.address,
      failures: ban.failures,
      at: new Date(this.now()).toISOString(),
      banSeconds: ban.banSeconds,
      ...(jail.increment ? { increment: jail.increment } : {}),
    });
    if (!sink) return;
    // this host first: the signal sets off work on every host of the fleet at once (on shared CPUs,
    // this one's nft among them), so it goes once the local ban is in, or after LOCAL_FIRST_MS at most
    let timer: NodeJS.Timeout | undefined;
    const capped = new Promise<void>((resolve) => (timer = setTimeout(resolve, LOCAL_FIRST_MS)));
    void Promise.race([local.catch(() => undefined), capped]).then(() => {
      clearTimeout(timer);
      return this.drain(sink);
    });
  }

  /**
   * Sends queued signals in order; on failure waits and retries, so none is lost while the bus is
   * away. Ends when the outbox is empty or the defender is closed.
   */
  async drain(sink: SignalSink): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    const { signal } = this.#closed;
    try {
      while (this.#outbox.length > 0) {
        await retry(() => sink.publishSignal(this.#outbox[0] as BanSignal), {
          signal,
          initialMs: 200,
          maxMs: 5000,
          onRetry: (err) => this.log.warn({ err, queued: this.#outbox.length }, "signal not delivered yet; retrying"),
        });
        this.#outbox.shift();
        this.signalsSent += 1;
      }
    } catch {
      // closed while the bus was away: what is queued goes with the process (the bans stay local)
    } finally {
      this.#draining = false;
    }
  }

  /** Stops the retrying of signals (the agent is stopping). */
  close(): void {
    this.#closed.abort();
    this.#skippedLog.close();
    this.#droppedLog.close();
  }

  #onSeal(id: string, data: Uint8Array | null): void {
    if (!data) {
      this.#seals.delete(id);
      return;
    }
    const v = verifySeal(dec.decode(data), this.trustedKey());
    if (!v.ok || v.seal.id !== id) {
      this.droppedDecisions += 1;
      const reason = v.ok ? "id does not match key" : v.reason;
      this.#droppedLog.write("warn", `seal: ${reason}`, { seal: id, reason }, "seal dropped");
      return;
    }
    this.#seals.set(id, new Set(v.seal.hashes));
  }

  /** An order to lift a local ban: verified (controller key, this host, recent, once), then lifted. True when a ban was lifted. */
  onLift(data: string, trustedKey: string | undefined): boolean {
    const v = this.#lifts.verify(data, trustedKey);
    if (!v.ok) {
      this.droppedDecisions += 1;
      logDropped(this.log, { reason: v.reason }, "lift order dropped");
      return false;
    }
    const lifted = this.bans.liftLocal(v.lift.address);
    this.log.info({ address: v.lift.address, jail: lifted?.jail }, lifted ? "local ban lifted" : "no local ban to lift");
    return !!lifted;
  }

  get queuedSignals(): number {
    return this.#outbox.length;
  }

  /** One entry of the bans bucket (null: deleted). Untrusted or malformed entries are dropped and counted. */
  onDecisionEntry(key: string, data: Uint8Array | null, storedAtMs?: number): void {
    if (key.startsWith(SEAL_KEY_PREFIX)) {
      this.#onSeal(key.slice(SEAL_KEY_PREFIX.length), data);
      return;
    }
    if (!data) {
      void this.bans.set(key, undefined);
      return;
    }
    const v = this.#reader.read(data, this.trustedKey(), this.#seals, storedAtMs);
    if (!v.ok) {
      this.droppedDecisions += 1;
      this.#droppedLog.write("warn", v.reason.replace(/\d[-\d:.TZ]*/g, "#"), { key, reason: v.reason }, "ban decision dropped");
      return;
    }
    // a seal's hashes are needed until each of its decisions has come; a new watch delivers the seal again
    if (v.sealed) {
      const hashes = this.#seals.get(v.sealed.seal);
      hashes?.delete(v.sealed.hash);
      if (hashes?.size === 0) this.#seals.delete(v.sealed.seal);
    }
    // queued, not awaited: a snapshot of many decisions becomes a few large nft batches
    void this.bans.set(key, decisionEntry(v.decision, this.labels, this.#parseTime));
  }
}
