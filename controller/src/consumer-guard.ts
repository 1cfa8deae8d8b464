import { BANS_BUCKET, DESIRED_BUCKET, HOSTS_BUCKET, PROTECTION_BUCKET, SIGNALS_STREAM } from "@fleetwall/api";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager, type ConsumerConfig, type ConsumerInfo, type JetStreamManager } from "@nats-io/jetstream";
import { scrubStreams } from "./stream-scrub.js";
import { ThrottledLines } from "@fleetwall/runtime";
import type { Logger } from "pino";

/**
 * Consumers delivering under one agent's inbox prefix the bans stream may have at once. Agents
 * themselves may create no consumer (they catch up by direct get); this bounds consumers made with
 * an operator's credentials (which may create consumers anywhere) that point at an agent's inbox.
 */
export const MAX_CONSUMERS_PER_AGENT = 4;
const BANS_STREAM = `KV_${BANS_BUCKET}`;
const GUARDED = new Set([BANS_STREAM, `KV_${DESIRED_BUCKET}`, `KV_${HOSTS_BUCKET}`, `KV_${PROTECTION_BUCKET}`, SIGNALS_STREAM]);
const ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER";
/** How often every consumer of the guarded streams is judged again (advisories can be missed). */
export const AUDIT_EVERY_MS = 30_000;

/** The inbox a deliver subject lies under: `_INBOX` (controller, operators), `_INBOX_<host>` (an agent), or undefined. */
export function inboxOwner(deliver: string): string | undefined {
  const head = deliver.split(".")[0] as string;
  if (head === "_INBOX") return "_INBOX";
  return head.startsWith("_INBOX_") && head.length > 7 && deliver.length > head.length + 1 ? head : undefined;
}

/**
 * Why a consumer of a fleetwall stream must go, or undefined when it may stay. Pure. nats-server
 * does not check a push consumer's deliver subject against its creator's rights, so a consumer
 * that delivers anywhere but an inbox could make the server publish a stream into any subject.
 * Agents may create no consumer (nats-permissions.ts); the controller and the operators' CLI may,
 * and so may anyone holding the operator's credentials: those are what the guard judges.
 */
export function consumerVerdict(stream: string, config: Pick<ConsumerConfig, "deliver_subject" | "durable_name">): string | undefined {
  const deliver = config.deliver_subject;
  if (deliver && !inboxOwner(deliver)) return `delivers to ${deliver}, outside any inbox`;
  if (stream !== BANS_STREAM) return undefined;
  if (!deliver) return "a pull consumer on the bans stream (watches of the bucket are push consumers to an inbox)";
  if (config.durable_name) return "a durable consumer on the bans stream";
  return undefined;
}

/** The consumers of `stream`; none while the stream is not made yet (a controller starting on an empty bus). */
async function consumersOf(jsm: JetStreamManager, stream: string): Promise<ConsumerInfo[]> {
  const all: ConsumerInfo[] = [];
  try {
    for await (const c of jsm.consumers.list(stream)) all.push(c);
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return [];
    throw error;
  }
  return all;
}

/**
 * How loud the deletion of an unlistened consumer is. On the shared `_INBOX.` (the controller's and
 * the operators') it is most often a CLI's KV watch left behind when the CLI exited, housekeeping:
 * info. On an agent's inbox nobody but that agent can listen, so it was made by someone else: warn.
 */
export const unlistenedLevel = (deliver: string | undefined): "info" | "warn" => (deliver && inboxOwner(deliver) === "_INBOX" ? "info" : "warn");

/** Consumers the controller's and operators' shared `_INBOX.` may have on the bans stream at once. */
export const MAX_CONSUMERS_SHARED_INBOX = 64;
/** How long a new push consumer on the bans stream may have nobody listening before it is deleted. */
export const UNBOUND_GRACE_MS = 3_000;

export const capOf = (owner: string): number => (owner === "_INBOX" ? MAX_CONSUMERS_SHARED_INBOX : MAX_CONSUMERS_PER_AGENT);

/** What the guard knows of a consumer on the bans stream: whose inbox it delivers to, and whether anyone listened when it was made. */
export interface Owned {
  owner: string;
  bound: boolean;
}

/**
 * The consumers of one inbox to delete so that at most `capOf(owner)` remain. `owners` is in the
 * order the consumers were made. Those nobody listened to go first, then the newest: a consumer
 * that delivers to another agent's inbox (`_INBOX_h2.…`) has no listener and is the newest. (Agents
 * made catch-up consumers once; now none under an agent's prefix has a listener.) Pure.
 */
export function overCap(owners: ReadonlyMap<string, Owned>, owner: string): string[] {
  const mine = [...owners].filter(([, o]) => o.owner === owner);
  const extra = mine.length - capOf(owner);
  if (extra <= 0) return [];
  const newestFirst = mine.reverse();
  const order = [...newestFirst.filter(([, o]) => !o.bound), ...newestFirst.filter(([, o]) => o.bound)];
  return order.slice(0, extra).map(([name]) => name);
}

/**
 * Watches consumers being made on the fleetwall streams (JetStream advisories) and deletes the ones
 * `consumerVerdict` refuses, saying so. `onTampered` hears of a deliver subject that was a bucket
 * key (a desired state or registration the server may have overwritten before the deletion).
 */
export class ConsumerGuard {
  /** Consumer name → inbox owner, on the bans stream, in the order they were made. */
  readonly #owners = new Map<string, Owned>();
  readonly #unbound = new Map<string, NodeJS.Timeout>();
  #sub: Subscription | undefined;
  #auditTimer: NodeJS.Timeout | undefined;
  /** Messages of one stream found stored in another (copied by a consumer) and purged. */
  purged = 0;
  #scrubQueued = false;
  #queue: Promise<void> = Promise.resolve();
  deleted = 0;
  /** A flood of consumers is one line per stream and reason every 10 s, then a count (`deleted` counts each). */
  readonly #deletedLog: ThrottledLines;

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly onTampered: (subject: string) => void = () => undefined,
  ) {
    this.#deletedLog = new ThrottledLines(log, "consumers refused and deleted, not logged one by one");
  }

  /**
   * Judges every consumer that exists now (made while no controller ran, or while advisories were
   * missed), then follows advisories, and judges them all again every `auditEveryMs`.
   */
  async start(auditEveryMs = AUDIT_EVERY_MS): Promise<void> {
    const jsm = await jetstreamManager(this.nc);
    await this.audit();
    this.#auditTimer = setInterval(() => void this.audit(), auditEveryMs);
    this.#auditTimer.unref();
    this.#sub = this.nc.subscribe(`${ADVISORY}.>`, {
      callback: (err, msg) => {
        if (err) return;
        const [, , , , action, stream, name] = msg.subject.split(".");
        if (!stream || !name || !GUARDED.has(stream)) return;
        if (action === "DELETED") this.#forget(name);
        // one at a time, in the order they were made: the oldest of an agent's go first
        if (action === "CREATED") this.#queue = this.#queue.then(() => this.#check(jsm, stream, name));
      },
    });
    // refused by the server (an authorization block made before the guard existed): say what is lost
    void this.#sub.closed.then((err) => {
      if (err) this.log.error({ subject: `${ADVISORY}.>`, err }, "consumer guard hears no advisories: consumers are not checked (run `fleetwall nats-auth` again)");
    });
  }

  /**
   * Every consumer of the guarded streams judged as if just made (the oldest first), then what a
   * consumer delivering into another stream copied there purged (stream-scrub.ts). Never rejects.
   */
  audit(): Promise<void> {
    this.#queue = this.#queue.then(async () => {
      try {
        const jsm = await jetstreamManager(this.nc);
        for (const stream of GUARDED) {
          const all = await consumersOf(jsm, stream);
          all.sort((a, b) => Date.parse(a.created) - Date.parse(b.created));
          for (const info of all) await this.#judge(jsm, stream, info);
        }
        this.purged += await scrubStreams(jsm, [...GUARDED], this.log);
      } catch (error) {
        this.log.warn({ err: error }, "consumer audit failed; trying again at the next");
      }
    });
    return this.#queue;
  }

  #scrubSoon(jsm: JetStreamManager): void {
    if (this.#scrubQueued) return;
    this.#scrubQueued = true;
    this.#queue = this.#queue.then(async () => {
      this.#scrubQueued = false;
      this.purged += await scrubStreams(jsm, [...GUARDED], this.log).catch(() => 0);
    });
  }

  async #check(jsm: JetStreamManager, stream: string, name: string): Promise<void> {
    try {
      await this.#judge(jsm, stream, await jsm.consumers.info(stream, name));
    } catch (error) {
      this.log.debug({ stream, consumer: name, err: error }, "consumer check failed (already gone?)");
    }
  }

  async #judge(jsm: JetStreamManager, stream: string, info: ConsumerInfo): Promise<void> {
    const { name, config } = info;
    const why = consumerVerdict(stream, config);
    if (why) {
      await this.#delete(jsm, stream, name, config.deliver_subject, why);
      if (config.deliver_subject?.startsWith("$KV.")) this.onTampered(config.deliver_subject);
      // what it delivered into a stream is stored there under the source's subjects: removed once
      // the consumers queued before are judged (a flood of them is one scrub, not one each)
      this.#scrubSoon(jsm);
      return;
    }
    const owner = config.deliver_subject ? inboxOwner(config.deliver_subject) : undefined;
    if (stream !== BANS_STREAM || !owner) return;
    const bound = !!info.push_bound;
    this.#owners.set(name, { owner, bound });
    // nobody listening: made by someone who cannot subscribe there (or a link that just dropped)
    if (!bound) this.#recheck(jsm, stream, name);
    for (const extra of overCap(this.#owners, owner)) await this.#delete(jsm, stream, extra, undefined, `${owner} has more than ${capOf(owner)} consumers on the bans stream; unlistened and newest go`);
  }

  /** Deletes `name` if still nobody listens on its deliver subject after UNBOUND_GRACE_MS. */
  #recheck(jsm: JetStreamManager, stream: string, name: string): void {
    if (this.#unbound.has(name)) return;
    const timer = setTimeout(() => {
      this.#unbound.delete(name);
      this.#queue = this.#queue.then(async () => {
        if (!this.#owners.has(name)) return;
        try {
          const info = await jsm.consumers.info(stream, name);
          if (info.push_bound) (this.#owners.get(name) as Owned).bound = true;
          else await this.#delete(jsm, stream, name, info.config.deliver_subject, `nobody listens on its deliver subject after ${UNBOUND_GRACE_MS} ms`, unlistenedLevel(info.config.deliver_subject));
        } catch (error) {
          this.log.debug({ stream, consumer: name, err: error }, "consumer check failed (already gone?)");
        }
      });
    }, UNBOUND_GRACE_MS);
    timer.unref();
    this.#unbound.set(name, timer);
  }

  #forget(name: string): void {
    this.#owners.delete(name);
    clearTimeout(this.#unbound.get(name));
    this.#unbound.delete(name);
  }

  async #delete(jsm: JetStreamManager, stream: string, name: string, deliver: string | undefined, reason: string, level: "info" | "warn" = "warn"): Promise<void> {
    this.#forget(name);
    await jsm.consumers.delete(stream, name).catch(() => undefined);
    this.deleted += 1;
    this.#deletedLog.write(level, `${stream}: ${reason}${level === "info" ? " (shared inbox)" : ""}`, { stream, consumer: name, deliver, reason }, "consumer refused and deleted");
  }

  stop(): void {
    clearInterval(this.#auditTimer);
    this.#deletedLog.close();
    this.#sub?.unsubscribe();
    for (const t of this.#unbound.values()) clearTimeout(t);
    this.#unbound.clear();
  }
}
