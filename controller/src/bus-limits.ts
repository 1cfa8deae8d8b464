import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, jetstreamManager, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { BANS_BUCKET, BANS_REPUBLISH, DESIRED_BUCKET, HOSTS_BUCKET, SIGNALS_STREAM, SIGNAL_WILDCARD } from "@fleetwall/api";
import type { Logger } from "pino";

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
export const LIMITS: Record<"signals" | "desired" | "hosts" | "bans", StreamLimits> = {
  signals: { max_bytes: 128 * MiB, max_msg_size: 4096, max_msgs_per_subject: 10_000, max_age: nanos(86_400_000), discard: DiscardPolicy.Old, max_consumers: 8 },
  // agents may make no consumers on these (their permissions): no cap beyond the server's
  // only the controller writes desired states: a value is bounded by the server's max_payload (at most 64 MiB)
  desired: { max_bytes: 256 * MiB, max_msg_size: 64 * MiB, max_msgs_per_subject: 1, max_age: 0, discard: DiscardPolicy.New, max_consumers: -1 },
  hosts: { max_bytes: 32 * MiB, max_msg_size: 16 * 1024, max_msgs_per_subject: 1, max_age: 0, discard: DiscardPolicy.New, max_consumers: -1 },
  bans: { max_bytes: 1024 * MiB, max_msg_size: MiB, max_msgs_per_subject: 1, max_age: 0, discard: DiscardPolicy.New, max_consumers: 10_000 },
};

/**
 * The most one desired state may be on this bus: the server's `max_payload` (its INFO; nats-server's
 * default is 1 MiB, configurable up to 64 MiB) and the bucket's value size, whichever is smaller.
 */
export function maxDesiredBytes(serverMaxPayload: number | undefined): number {
  return Math.min(serverMaxPayload ?? MiB, LIMITS.desired.max_msg_size);
}

/** The signals consumer the arbiter reads; a signal is delivered at most MAX_DELIVER times. */
export const ARBITER_CONSUMER = "fleetwall-arbiter";
export const MAX_DELIVER = 5;
export const arbiterConsumerConfig = {
  durable_name: ARBITER_CONSUMER,
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.All,
  ack_wait: nanos(30_000),
  max_deliver: MAX_DELIVER,
  max_ack_pending: 1024,
};

const differs = (have: Partial<StreamConfig>, want: StreamLimits) => (Object.keys(want) as (keyof StreamLimits)[]).some((k) => (have[k] ?? 0) !== want[k]);

/** Brings an existing stream's limits to `want`; what the server refuses to change is logged, not fatal. */
async function ensureLimits(jsm: JetStreamManager, name: string, want: StreamLimits, log: Logger, extra: Partial<StreamConfig> = {}): Promise<void> {
  const have = (await jsm.streams.info(name)).config;
  if (!differs(have, want) && Object.keys(extra).length === 0) return;
  try {
    await jsm.streams.update(name, { ...have, ...want, ...extra });
  } catch (error) {
    // nats-server 2.9 refuses some changes (max_consumers) to a stream that exists: keep the rest
    const { max_consumers: _, ...rest } = want;
    await jsm.streams.update(name, { ...have, ...rest, ...extra }).then(
      () => log.warn({ stream: name, err: error }, "stream limits applied but for its consumer cap (the server refuses to change it)"),
      (again: unknown) => log.error({ stream: name, err: again }, "stream limits not applied"),
    );
  }
}

export interface Buckets {
  desired: KV;
  hosts: KV;
  bans: KV;
}

/** Creates (or brings to the current limits) the buckets, the signals stream and the arbiter's consumer. */
export async function setUpStreams(nc: NatsConnection, replicas: number, log: Logger): Promise<Buckets> {
  const kvm = new Kvm(nc);
  const jsm = await jetstreamManager(nc);
  const bucket = async (name: string, limits: StreamLimits, extra: { republish?: typeof BANS_REPUBLISH } = {}) => {
    const stream = `KV_${name}`;
    // made here when missing, as the KV API makes it, with the limits it cannot set (a consumer cap)
    if (!(await jsm.streams.info(stream).then(() => true, () => false))) {
      await jsm.streams.add({ name: stream, subjects: [`$KV.${name}.>`], retention: RetentionPolicy.Limits, storage: StorageType.File, num_replicas: replicas, allow_rollup_hdrs: true, allow_direct: true, deny_delete: true, ...limits, ...extra });
    }
    const kv = await kvm.create(name, { history: 1, replicas, max_bytes: limits.max_bytes, maxValueSize: limits.max_msg_size, ...extra });
    const have = (await jsm.streams.info(stream)).config;
    const republish = extra.republish && (have.republish?.src !== extra.republish.src || have.republish?.dest !== extra.republish.dest) ? { republish: extra.republish } : {};
    await ensureLimits(jsm, stream, limits, log, republish);
    if (republish.republish && (await jsm.streams.info(stream)).config.republish?.dest !== extra.republish?.dest) {
      log.error({ bucket: name }, "bans bucket does not republish its entries and the server refused to add it: agents see bans only by periodic catch-up (seconds, not milliseconds) until the bucket is made again");
    }
    return kv;
  };
  const desired = await bucket(DESIRED_BUCKET, LIMITS.desired);
  const hosts = await bucket(HOSTS_BUCKET, LIMITS.hosts);
  // every stored decision is republished to a core subject agents subscribe to (link.ts watchBans)
  const bans = await bucket(BANS_BUCKET, LIMITS.bans, { republish: BANS_REPUBLISH });
  const stream: Partial<StreamConfig> & { name: string } = { name: SIGNALS_STREAM, subjects: [SIGNAL_WILDCARD], num_replicas: replicas, ...LIMITS.signals };
  await jsm.streams.add(stream).catch(async () => ensureLimits(jsm, SIGNALS_STREAM, LIMITS.signals, log));
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
