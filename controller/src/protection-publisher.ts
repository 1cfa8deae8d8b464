import type { NatsConnection } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
import { MAX_FLEET_PROTECTED, PROTECTION_BUCKET, PROTECTION_KEY, SCHEMA_VERSION, envelopeText, parseEnvelopeText, signPayload, type FleetProtection, type SigningKey } from "@fleetwall/api";
import { delay, retry } from "@fleetwall/runtime";
import type { Logger } from "pino";
import { LIMITS, ensureBucket } from "./bus-limits.js";
import type { StreamSettings } from "./stream-settings.js";

/** Changes (registrations, resolved addresses) are gathered this long into one list. */
export const PROTECTION_DEBOUNCE_MS = 500;
/** Room left in a message for the envelope's head and the headers. */
const HEAD_ROOM = 4096;

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

/**
 * Publishes the fleet's protection list (api/fleet-protection.ts): one key in a bucket of its own,
 * signed, with a revision that continues from the stored one, published again only when its entries
 * change, at most once per PROTECTION_DEBOUNCE_MS. A registration changes one list, not 3,000
 * desired states.
 */
export class ProtectionPublisher {
  #revision = 0;
  #last: string | undefined;
  #dirty = true;
  #wake: () => void = () => undefined;
  published = 0;
  failures = 0;
  entries = 0;
  leftOut = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly key: SigningKey,
    private readonly prioritized: () => string[],
    private readonly opts: { replicas: number; log: Logger; settings: StreamSettings; debounceMs?: number },
  ) {}

  /** Something protected changed: publish again soon. */
  kick(): void {
    this.#dirty = true;
    this.#wake();
  }

  /** Opens the bucket, then publishes now and after each change until `signal` aborts. Start once registrations are loaded. */
  async run(signal: AbortSignal): Promise<void> {
    const { log } = this.opts;
    const kv = await retry(() => ensureBucket(this.nc, PROTECTION_BUCKET, LIMITS.protection, this.opts), { signal, initialMs: 500, maxMs: 10_000, onRetry: (err) => log.warn({ err, bucket: PROTECTION_BUCKET }, "protection bucket not ready; retrying") });
    await this.#readStored(kv);
    const rest = (ms: number) => delay(ms, signal).catch(() => undefined);
    while (!signal.aborted) {
      if (this.#dirty) {
        this.#dirty = false;
        const ok = await this.#publish(kv).then(() => true, (error: unknown) => {
          this.failures += 1;
          this.#dirty = true;
          log.error({ err: error }, "fleet protection list not published; retrying");
          return false;
        });
        if (!ok) await rest(5_000);
      }
      if (!this.#dirty) await Promise.race([new Promise<void>((resolve) => (this.#wake = resolve)), rest(60_000)]);
      await rest(this.opts.debounceMs ?? PROTECTION_DEBOUNCE_MS);
    }
  }

  /** The stored list's revision and entries, so revisions only grow and a restart publishes nothing new. */
  async #readStored(kv: KV): Promise<void> {
    const e = await kv.get(PROTECTION_KEY).catch(() => null);
    if (!e || e.operation !== "PUT") return;
    const env = parseEnvelopeText(e.string());
    if (!env.success) return;
    try {
      const stored = JSON.parse(env.data.payload) as Partial<FleetProtection>;
      this.#revision = typeof stored.revision === "number" ? stored.revision : 0;
      this.#last = JSON.stringify(stored.entries ?? []);
      this.entries = stored.entries?.length ?? 0;
    } catch {
      // not ours to read: the next list overwrites it
    }
  }

  async #publish(kv: KV): Promise<void> {
    const maxBytes = Math.min(this.nc.info?.max_payload ?? LIMITS.protection.max_msg_size, LIMITS.protection.max_msg_size) - HEAD_ROOM;
    const prioritized = this.prioritized();
    const text = (entries: string[], revision = this.#revision + 1) => {
      const list: FleetProtection = { schemaVersion: SCHEMA_VERSION, revision, issuedAt: new Date().toISOString(), entries };
      return envelopeText(signPayload(this.key, JSON.stringify(list)));
    };
    const { entries, leftOut } = fitEntries(prioritized, maxBytes, text);
    if (leftOut > 0 && leftOut !== this.leftOut) this.opts.log.error({ entries: entries.length, leftOut, max: MAX_FLEET_PROTECTED, maxBytes }, "fleet protection list too long: the last hosts' addresses are protected only by the controller's refusal of fleet bans");
    this.leftOut = leftOut;
    const joined = JSON.stringify(entries);
    if (joined === this.#last) return;
    await kv.put(PROTECTION_KEY, text(entries));
    this.#revision += 1;
    this.#last = joined;
    this.entries = entries.length;
    this.published += 1;
    this.opts.log.info({ revision: this.#revision, entries: entries.length }, "fleet protection list published");
  }
}
