import type { NatsConnection } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import { MAX_FLEET_PROTECTED, PROTECTION_BUCKET, PROTECTION_KEY, PROTECTION_SUBJECT, SCHEMA_VERSION, busJsonOrUndefined, envelopeText, parseEnvelopeText, signPayload, verifyEnvelope, type FleetProtection, type SigningKey } from "@fleetwall/api";
import { delay, retry } from "@fleetwall/runtime";
import type { Logger } from "pino";
import { LIMITS, ensureBucket } from "./bus-limits.js";
import type { StreamSettings } from "./stream-settings.js";

/** Changes (registrations, resolved addresses) are gathered this long into one list. */
export const PROTECTION_DEBOUNCE_MS = 500;
/** Room left in a message for the envelope's head and the headers. */
const HEAD_ROOM = 4096;
/** How often the controller reads its key back, to notice a deleted bucket (its stream gone: no put or deletion is heard). */
export const PROTECTION_CHECK_MS = 60_000;

/**
 * The revision of the next list: above the last one (ours, or another writer's we saw) and at least
 * the clock in ms. Agents refuse a revision below the one they hold, so a revision that restarted at
 * 1 (the bucket lost, a new controller) would be refused until it caught up; one from the clock is
 * above every list published before it, by any replica whose clock was not ahead. Pure.
 */
export function nextRevision(last: number, nowMs: number): number {
  return Math.max(last + 1, Math.floor(nowMs));
}

/**
 * The entries of the list to publish: the first ones of `prioritized` (most important first) that
 * fit MAX_FLEET_PROTECTED and `maxBytes` of signed text, sorted. Pure but for the signing `text`.
 */
export function fitEntries(prioritized: readonly string[], maxBytes: number, text: (entries: string[]) => string): { entries: string[]; leftOut: number } {
  let n = Math.min(prioritized.length, MAX_FLEET_PROTECTED);
  for (;;) {
    const entries = prioritized.slice(0, n).sort();
    const size = Buffer.byteLength(text(entries));
    if (size <= maxBytes || n === 0) return { entries, leftOut: prioritized.length - n };
    n = Math.floor((n * maxBytes) / size) - 1;
  }
}

/** The list in a stored text, unverified (only its revision and entries are read); undefined when it is none. */
function listOf(text: string): Partial<FleetProtection> | undefined {
  const env = parseEnvelopeText(text);
  if (!env.success) return undefined;
  // not ours to read (not JSON, too large or deep): the next list overwrites it
  const list = busJsonOrUndefined(env.data.payload, "envelope");
  return list && typeof list === "object" ? (list as Partial<FleetProtection>) : undefined;
}

/** The revision of a list signed by `publicKeyPem` (agents take no other), else 0. */
function revisionOf(text: string, publicKeyPem: string): number {
  const env = parseEnvelopeText(text);
  if (!env.success || !verifyEnvelope(env.data, publicKeyPem)) return 0;
  const r = listOf(text)?.revision;
  return typeof r === "number" && Number.isSafeInteger(r) ? r : 0;
}

/**
 * Publishes the fleet's protection list (api/fleet-protection.ts): one key in a bucket of its own,
 * signed, with a revision above the stored one and at least the clock (`nextRevision`), published
 * again only when its entries change, at most once per PROTECTION_DEBOUNCE_MS, or when the key or
 * its bucket was lost (the bucket is made again). A registration changes one list, not 3,000
 * desired states.
 */
export class ProtectionPublisher {
  #revision = 0;
  #last: string | undefined;
  #dirty = true;
  #wake: () => void = () => undefined;
  /** The text last put: anything else on the key's subject is another writer's. */
  #sent: string | undefined;
  #force = false;
  /** Pause before the next repair of another writer's put: 1 s, doubling to a minute while it keeps at it. */
  #repairGapMs = 1_000;
  /** Puts (or deletions) of the key by another writer, each undone. */
  overwritten = 0;
  /** Times the key was found missing (its bucket deleted) and published again. */
  lost = 0;
  published = 0;
  failures = 0;
  entries = 0;
  leftOut = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly key: SigningKey,
    private readonly prioritized: () => string[],
    private readonly opts: { replicas: number; log: Logger; settings: StreamSettings; debounceMs?: number; checkMs?: number; now?: () => number },
  ) {}

  /** Something protected changed: publish again soon. */
  kick(): void {
    this.#dirty = true;
    this.#wake();
  }

  /** Opens the bucket, then publishes now and after each change until `signal` aborts. Start once registrations are loaded. */
  async run(signal: AbortSignal): Promise<void> {
    const { log } = this.opts;
    const kv = await retry(() => this.#open(), { signal, initialMs: 500, maxMs: 10_000, onRetry: (err) => log.warn({ err, bucket: PROTECTION_BUCKET }, "protection bucket not ready; retrying") });
    await this.#readStored(kv);
    const sub = this.nc.subscribe(PROTECTION_SUBJECT, { callback: (err, m) => void (err || this.#onStored(m.headers?.get("KV-Operation") ? "" : m.string())) });
    try {
      await this.#loop(kv, signal);
    } finally {
      sub.unsubscribe();
    }
  }

  /** A put seen on the key's subject: another writer's (a second controller, a put by hand) is overwritten by a new revision. */
  #onStored(text: string): void {
    if (text === this.#sent) return;
    this.overwritten += 1;
    // the next revision goes above the other writer's, or agents that took its list would refuse ours
    this.#revision = Math.max(this.#revision, revisionOf(text, this.key.publicKeyPem));
    if (!this.#force) this.opts.log.warn({ repairInMs: this.#repairGapMs }, "fleet protection list overwritten by another writer (a second controller?); publishing it again");
    this.#force = true;
    this.kick();
  }

  /** The bucket, made (again) when missing. */
  #open(): Promise<KV> {
    return ensureBucket(this.nc, PROTECTION_BUCKET, LIMITS.protection, this.opts);
  }

  async #loop(bucket: KV, signal: AbortSignal): Promise<void> {
    const { log } = this.opts;
    const rest = (ms: number) => delay(ms, signal).catch(() => undefined);
    const checkMs = this.opts.checkMs ?? PROTECTION_CHECK_MS;
    let kv = bucket;
    let checkAt = Date.now() + checkMs;
    while (!signal.aborted) {
      if (!this.#dirty && Date.now() >= checkAt) {
        kv = await this.#checkStored(kv);
        checkAt = Date.now() + checkMs;
      }
      if (this.#dirty) {
        if (this.#force) {
          await rest(this.#repairGapMs);
          this.#repairGapMs = Math.min(60_000, this.#repairGapMs * 2);
        } else this.#repairGapMs = 1_000;
        this.#dirty = false;
        const ok = await this.#publish(kv).then(() => true, (error: unknown) => {
          this.failures += 1;
          this.#dirty = true;
          log.error({ err: error }, "fleet protection list not published; retrying");
          return false;
        });
        if (!ok) {
          await rest(5_000);
          // the bucket may be gone: made again, or the next try says why not
          kv = await this.#open().catch(() => kv);
        }
      }
      if (!this.#dirty) await Promise.race([new Promise<void>((resolve) => (this.#wake = resolve)), rest(Math.max(0, checkAt - Date.now()))]);
      await rest(this.opts.debounceMs ?? PROTECTION_DEBOUNCE_MS);
    }
  }

  /**
   * Reads the key back: when it no longer holds what was last put (its bucket was deleted, which no
   * subscription hears), the bucket is made again and the list published again. Returns the bucket.
   */
  async #checkStored(kv: KV): Promise<KV> {
    const holds = async (b: KV) => {
      const e = await b.get(PROTECTION_KEY).catch(() => undefined);
      return e?.operation === "PUT" && e.string() === this.#sent;
    };
    if (this.#sent === undefined || (await holds(kv))) return kv;
    const again = await this.#open().catch(() => undefined);
    // the bus is away: the next check tries again
    if (!again || (await holds(again))) return again ?? kv;
    this.lost += 1;
    this.opts.log.warn({ bucket: PROTECTION_BUCKET, revision: this.#revision }, "fleet protection list missing from its bucket; publishing it again");
    this.#force = true;
    this.#dirty = true;
    return again;
  }

  /** The stored list's revision and entries, so revisions only grow and a restart publishes nothing new. */
  async #readStored(kv: KV): Promise<void> {
    const e = await kv.get(PROTECTION_KEY).catch(() => null);
    const stored = e?.operation === "PUT" ? listOf(e.string()) : undefined;
    if (!stored || !e) return;
    this.#sent = e.string();
    // only a list signed by our key (agents take no other) sets where revisions continue
    this.#revision = revisionOf(this.#sent, this.key.publicKeyPem);
    this.#last = JSON.stringify(stored.entries ?? []);
    this.entries = stored.entries?.length ?? 0;
  }

  async #publish(kv: KV): Promise<void> {
    const maxBytes = Math.min(this.nc.info?.max_payload ?? LIMITS.protection.max_msg_size, LIMITS.protection.max_msg_size) - HEAD_ROOM;
    const prioritized = this.prioritized();
    const revision = nextRevision(this.#revision, (this.opts.now ?? Date.now)());
    const text = (entries: string[]) => {
      const list: FleetProtection = { schemaVersion: SCHEMA_VERSION, revision, issuedAt: new Date().toISOString(), entries };
      return envelopeText(signPayload(this.key, JSON.stringify(list)));
    };
    const { entries, leftOut } = fitEntries(prioritized, maxBytes, text);
    if (leftOut > 0 && leftOut !== this.leftOut) this.opts.log.error({ entries: entries.length, leftOut, max: MAX_FLEET_PROTECTED, maxBytes }, "fleet protection list too long: the last hosts' addresses are protected only by the controller's refusal of fleet bans");
    this.leftOut = leftOut;
    const joined = JSON.stringify(entries);
    if (joined === this.#last && !this.#force) return;
    // known before the put: its echo on the key's subject is ours
    this.#sent = text(entries);
    await kv.put(PROTECTION_KEY, this.#sent);
    this.#force = false;
    this.#revision = revision;
    this.#last = joined;
    this.entries = entries.length;
    this.published += 1;
    this.opts.log.info({ revision: this.#revision, entries: entries.length }, "fleet protection list published");
  }
}
