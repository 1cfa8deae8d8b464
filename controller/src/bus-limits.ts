import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, jetstreamManager, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { BANS_BUCKET, BANS_REPUBLISH, DESIRED_BUCKET, HOSTS_BUCKET, SIGNALS_STREAM, SIGNAL_WILDCARD } from "@fleetwall/api";
import type { Logger } from "pino";
import { StreamSettings } from "./stream-settings.js";

const MiB = 1024 * 1024;

/** Limits of one stream (a bucket's stream too): what a flood can take at most, and what goes when full. */
export interface StreamLimits {
  max_bytes: number;
  max_msg_size: number;
  max_msgs_per_subject: number;
  /** 0: messages do not age out (decisions and registrations are removed by the controller). */
  max_age: number;
  discard: DiscardPolicy;
  /** Consumers at once (-1: unlimited); on the bans stream, agents' catch-ups. */
  max_consumers: number;
}

/**
 * The bus's bounds. Signals: one agent's flood evicts only its own oldest signals (per subject,
 * discard old), none over 4 KiB. Buckets: one value per key, values bounded, discard new (a full
 * bucket refuses writes, it never drops a decision or a registration on its own).
 */
export const LIMITS: Record<"signals" | "desired" | "hosts" | "bans" | "protection", StreamLimits> = {
  signals: { max_bytes: 128 * MiB, max_msg_size: 4096, max_msgs_per_subject: 10_000, max_age: nanos(86_400_000), discard: DiscardPolicy.Old, max_consumers: 8 },
  // agents may make no consumers on these (their permissions): no cap beyond the server's
  // only the controller writes desired states: a value is bounded by the server's max_payload (at most 64 MiB)
  desired: { max_bytes: 256 * MiB, max_msg_size: 64 * MiB, max_msgs_per_subject: 1, max_age: 0, discard: DiscardPolicy.New, max_consumers: -1 },
  hosts: { max_bytes: 32 * MiB, max_msg_size: 16 * 1024, max_msgs_per_subject: 1, max_age: 0, discard: DiscardPolicy.New, max_consumers: -1 },
  // one key, the fleet's protection list (fleet-protection.ts in api), read by every agent
  protection: { max_bytes: 8 * MiB, max_msg_size: MiB, max_msgs_per_subject: 1, max_age: 0, discard: DiscardPolicy.New, max_consumers: -1 },
  bans: { max_bytes: 1024 * MiB, max_msg_size: MiB, max_msgs_per_subject: 1, max_age: 0, discard: DiscardPolicy.New, max_consumers: 10_000 },
};

/**
 * The most one desired state may be on this bus: the server's `max_payload` (its INFO; nats-server's
 * default is 1 MiB, configurable up to 64 MiB) and the bucket's value size, whichever is smaller.
 */
export function maxDesiredBytes(serverMaxPayload: number | undefined): number {
  return Math.min(serverMaxPayload ?? MiB, LIMITS.desired.max_msg_size);
}

/**
 * The signals consumer the arbiter reads; a signal is delivered at most MAX_DELIVER times, the
 * redeliveries spaced by redeliverDelayMs: about 8 minutes in all, so a signal outlives an outage of
 * the controller's own puts (a stream the server is busy copying) instead of being given up.
 */
export const ARBITER_CONSUMER = "fleetwall-arbiter";
export const MAX_DELIVER = 20;
/** How long the arbiter waits before delivery `delivery` + 1 of a signal it failed to handle: 1 s, doubling, at most 30 s. */
export function redeliverDelayMs(delivery: number): number {
  return Math.min(30_000, 1_000 * 2 ** Math.max(0, delivery - 1));
}
export const arbiterConsumerConfig = {
  durable_name: ARBITER_CONSUMER,
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.All,
  ack_wait: nanos(30_000),
  max_deliver: MAX_DELIVER,
  max_ack_pending: 1024,
};

export interface Buckets {
  desired: KV;
  hosts: KV;
  bans: KV;
}

/**
 * Opens bucket `name`, made when missing with `limits` (the KV API cannot set a consumer cap), and
 * brings an existing one to them (`settings` remembers and reports what the server refuses).
 */
export async function ensureBucket(nc: NatsConnection, name: string, limits: StreamLimits, opts: { replicas: number; log: Logger; settings: StreamSettings; republish?: typeof BANS_REPUBLISH; rollup?: boolean }): Promise<KV> {
  const jsm = await jetstreamManager(nc);
  const stream = `KV_${name}`;
  // a bucket agents write into refuses Nats-Rollup: one agent's put would remove every other key
  const extra = { ...(opts.republish ? { republish: opts.republish } : {}), allow_rollup_hdrs: opts.rollup ?? true };
  if (!(await jsm.streams.info(stream).then(() => true, () => false))) {
    await jsm.streams.add({ name: stream, subjects: [`$KV.${name}.>`], retention: RetentionPolicy.Limits, storage: StorageType.File, num_replicas: opts.replicas, allow_direct: true, deny_delete: true, ...limits, ...extra });
  }
  const kv = await new Kvm(nc).create(name, { history: 1, replicas: opts.replicas, max_bytes: limits.max_bytes, maxValueSize: limits.max_msg_size, ...(opts.republish ? { republish: opts.republish } : {}) });
  // agents read the bans and their own keys by direct get: a bucket made without it gets it
  await opts.settings.reconcile(jsm, stream, { ...limits, allow_direct: true, ...extra }, opts.log);
  if (opts.republish && (await jsm.streams.info(stream)).config.republish?.dest !== opts.republish.dest) {
    opts.log.error({ bucket: name }, "bans bucket does not republish its entries and the server refused to add it: agents see bans only by periodic catch-up (seconds, not milliseconds) until the bucket is made again");
  }
  return kv;
}

/** Creates (or brings to the current limits) the buckets, the signals stream and the arbiter's consumer. */
export async function setUpStreams(nc: NatsConnection, replicas: number, log: Logger, settings = new StreamSettings()): Promise<Buckets> {
  const jsm = await jetstreamManager(nc);
  const opts = { replicas, log, settings };
  const desired = await ensureBucket(nc, DESIRED_BUCKET, LIMITS.desired, opts);
  // agents put their own registration here: no rollups (docs/architecture.md, "Trust model")
  const hosts = await ensureBucket(nc, HOSTS_BUCKET, LIMITS.hosts, { ...opts, rollup: false });
  // every stored decision is republished to a core subject agents subscribe to (link.ts watchBans)
  const bans = await ensureBucket(nc, BANS_BUCKET, LIMITS.bans, { ...opts, republish: BANS_REPUBLISH });
  // agents publish signals: no rollups there either
  const stream: Partial<StreamConfig> & { name: string } = { name: SIGNALS_STREAM, subjects: [SIGNAL_WILDCARD], num_replicas: replicas, ...LIMITS.signals, allow_rollup_hdrs: false };
  // made when missing; an existing one (refused with other settings) is brought to them
  await jsm.streams.add(stream).catch(() => undefined);
  await settings.reconcile(jsm, SIGNALS_STREAM, { ...LIMITS.signals, allow_rollup_hdrs: false }, log);
  await ensureArbiterConsumer(jsm);
  return { desired, hosts, bans };
}

/**
 * Creates the arbiter's durable consumer, or brings an existing one to the current settings. One
 * made again after a deletion starts after `afterSeq`, the last signal handled, not from the start.
 */
export async function ensureArbiterConsumer(jsm: JetStreamManager, afterSeq = 0): Promise<void> {
  const config = afterSeq > 0 ? { ...arbiterConsumerConfig, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: afterSeq + 1 } : arbiterConsumerConfig;
  await jsm.consumers.add(SIGNALS_STREAM, config).catch(async () => jsm.consumers.update(SIGNALS_STREAM, ARBITER_CONSUMER, { ack_wait: arbiterConsumerConfig.ack_wait, max_deliver: MAX_DELIVER, max_ack_pending: arbiterConsumerConfig.max_ack_pending }));
}
