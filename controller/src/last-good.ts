import { validateResource } from "./resource-check.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { LAST_GOOD_BUCKET, envelopeText, parseEnvelopeText, signPayload, verifyEnvelope, type Resource, type SigningKey } from "@fleetwall/api";
import { jetstreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { StreamSettings } from "./stream-settings.js";

/** Bounds of the bucket: one value per key, at most 8 MiB each, 256 MiB in all. */
const MAX_VALUE_BYTES = 8 * 1024 * 1024;
const MAX_BUCKET_BYTES = 256 * 1024 * 1024;

export const lastGoodKey = (r: { kind: string; metadata: { name: string } }): string => `${r.kind}.${r.metadata.name}`;

export interface LastGoodPlan {
  puts: { key: string; text: string }[];
  deletes: string[];
}

/**
 * Pure: what to write so that the bucket holds exactly the valid resources of `current`, given the
 * payload text each key holds now. An unchanged resource is not written again.
 */
export function planLastGood(stored: ReadonlyMap<string, string>, current: readonly Resource[], textOf: (r: Resource) => string = (r) => JSON.stringify(r)): LastGoodPlan {
  const puts: LastGoodPlan["puts"] = [];
  const wanted = new Set<string>();
  for (const r of current) {
    const key = lastGoodKey(r);
    wanted.add(key);
    const text = textOf(r);
    if (stored.get(key) !== text) puts.push({ key, text });
  }
  const deletes = [...stored.keys()].filter((k) => !wanted.has(k)).sort();
  return { puts, deletes };
}

/** A resource's JSON from its other fields and its spec's JSON (serialised once per spec object). */
export function resourceText(rest: Omit<Resource, "spec">, specText: string): string {
  return `${JSON.stringify(rest).slice(0, -1)},"spec":${specText}}`;
}

/**
 * The last valid version of every policy and ban list, kept in the bus (the `fleetwall-last-good`
 * bucket) so that it outlives the controller: after a restart, a policy whose source is now invalid
 * stays in force as it was, and the incumbent of a duplicated name stays the incumbent. Only the
 * controller writes the bucket, and each value is signed with its key: a value that does not verify is
 * ignored (and logged), so write access to the bus does not let anyone author a policy.
 */
export class LastGoodStore {
  /** Key → payload text the bucket holds. */
  #stored = new Map<string, string>();
  #pending: readonly Resource[] | undefined;
  #writing: Promise<void> | undefined;
  failures = 0;

  private constructor(
    private readonly kv: KV,
    private readonly key: SigningKey,
    private readonly log: Logger,
  ) {}

  /** Opens the bucket, made when missing; an existing one is brought to its limits (`settings` reports what the server refuses). */
  static async open(nc: NatsConnection, replicas: number, key: SigningKey, log: Logger, settings?: StreamSettings): Promise<LastGoodStore> {
    const kv = await new Kvm(nc).create(LAST_GOOD_BUCKET, { history: 1, replicas, max_bytes: MAX_BUCKET_BYTES, maxValueSize: MAX_VALUE_BYTES });
    await settings?.reconcile(await jetstreamManager(nc), `KV_${LAST_GOOD_BUCKET}`, { max_bytes: MAX_BUCKET_BYTES, max_msg_size: MAX_VALUE_BYTES, max_msgs_per_subject: 1 }, log);
    return new LastGoodStore(kv, key, log);
  }

  /** Every stored resource that verifies and is still valid; the rest is logged and left out. */
  async load(): Promise<Resource[]> {
    const out: Resource[] = [];
    for await (const k of await this.kv.keys()) {
      const entry = await this.kv.get(k);
      if (!entry || entry.operation !== "PUT") continue;
      const env = parseEnvelopeText(entry.string());
      if (!env.success || !verifyEnvelope(env.data, this.key.publicKeyPem)) {
        this.log.error({ key: k }, "last good version not signed by this controller's key; ignored");
        continue;
      }
      const r = validateResource(JSON.parse(env.data.payload) as unknown);
      if (!r.ok) {
        this.log.warn({ key: k, errors: r.errors }, "last good version no longer valid; ignored");
        continue;
      }
      this.#stored.set(k, env.data.payload);
      out.push(r.resource);
    }
    return out;
  }

  /**
   * Makes the bucket hold `resources` (the valid ones in force). Writes run one at a time; a record
   * made while one runs replaces any earlier one still waiting, so only the latest set is written.
   */
  record(resources: readonly Resource[]): Promise<void> {
    this.#pending = resources;
    this.#writing ??= this.#drain().finally(() => (this.#writing = undefined));
    return this.#writing;
  }

  /**
   * A resource's JSON, its spec serialised once per spec object: sources hand over the same spec
   * object while a policy is unchanged, and a big policy's spec is megabytes.
   */
  #textOf(r: Resource): string {
    const { spec, ...rest } = r;
    let specText = this.#specTexts.get(spec);
    if (specText === undefined) {
      specText = JSON.stringify(spec);
      this.#specTexts.set(spec, specText);
    }
    return resourceText(rest, specText);
  }

  readonly #specTexts = new WeakMap<object, string>();

  async #drain(): Promise<void> {
    while (this.#pending) {
      const plan = planLastGood(this.#stored, this.#pending, (r) => this.#textOf(r));
      this.#pending = undefined;
      for (const { key, text } of plan.puts) {
        try {
          await this.kv.put(key, envelopeText(signPayload(this.key, text)));
          this.#stored.set(key, text);
        } catch (error) {
          // e.g. larger than the server's max_payload: the version in force still is, until a restart
          this.failures += 1;
          this.log.error({ key, bytes: text.length, err: error }, "last good version not stored");
        }
      }
      for (const key of plan.deletes) {
        try {
          await this.kv.purge(key);
          this.#stored.delete(key);
        } catch (error) {
          this.failures += 1;
          this.log.error({ key, err: error }, "last good version not removed");
        }
      }
    }
  }
}
