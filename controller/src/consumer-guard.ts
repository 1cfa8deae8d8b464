import { BANS_BUCKET, DESIRED_BUCKET, HOSTS_BUCKET, SIGNALS_STREAM } from "@fleetwall/api";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { jetstreamManager, type ConsumerConfig, type JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";

/** Catch-up consumers one agent may have on the bans stream at once. */
export const MAX_CONSUMERS_PER_AGENT = 4;
const BANS_STREAM = `KV_${BANS_BUCKET}`;
const GUARDED = new Set([BANS_STREAM, `KV_${DESIRED_BUCKET}`, `KV_${HOSTS_BUCKET}`, SIGNALS_STREAM]);
const ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER";

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
 */
export function consumerVerdict(stream: string, config: Pick<ConsumerConfig, "deliver_subject" | "durable_name">): string | undefined {
  const deliver = config.deliver_subject;
  if (deliver && !inboxOwner(deliver)) return `delivers to ${deliver}, outside any inbox`;
  if (stream !== BANS_STREAM) return undefined;
  if (!deliver) return "a pull consumer on the bans stream (agents catch up with push consumers to their own inbox)";
  if (config.durable_name) return "a durable consumer on the bans stream";
  return undefined;
}

/**
 * The consumers of one agent's inbox to delete so that at most MAX_CONSUMERS_PER_AGENT remain, the
 * oldest first (an agent whose link flaps leaves catch-ups behind; its newest is the one in use).
 * `owners` is in the order the consumers were made. Pure.
 */
export function overCap(owners: ReadonlyMap<string, string>, owner: string): string[] {
  if (owner === "_INBOX") return [];
  const mine = [...owners].filter(([, o]) => o === owner).map(([name]) => name);
  return mine.slice(0, Math.max(0, mine.length - MAX_CONSUMERS_PER_AGENT));
}

/**
 * Watches consumers being made on the fleetwall streams (JetStream advisories) and deletes the ones
 * `consumerVerdict` refuses, saying so. `onTampered` hears of a deliver subject that was a bucket
 * key (a desired state or registration the server may have overwritten before the deletion).
 */
export class ConsumerGuard {
  /** Consumer name → inbox owner, on the bans stream. */
  readonly #owners = new Map<string, string>();
  #sub: Subscription | undefined;
  #queue: Promise<void> = Promise.resolve();
  deleted = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly onTampered: (subject: string) => void = () => undefined,
  ) {}

  async start(): Promise<void> {
    const jsm = await jetstreamManager(this.nc);
    for await (const c of jsm.consumers.list(BANS_STREAM)) {
      const owner = c.config.deliver_subject ? inboxOwner(c.config.deliver_subject) : undefined;
      if (owner) this.#owners.set(c.name, owner);
    }
    this.#sub = this.nc.subscribe(`${ADVISORY}.>`, {
      callback: (err, msg) => {
        if (err) return;
        const [, , , , action, stream, name] = msg.subject.split(".");
        if (!stream || !name || !GUARDED.has(stream)) return;
        if (action === "DELETED") this.#owners.delete(name);
        // one at a time, in the order they were made: the oldest of an agent's go first
        if (action === "CREATED") this.#queue = this.#queue.then(() => this.#check(jsm, stream, name));
      },
    });
    // refused by the server (an authorization block made before the guard existed): say what is lost
    void this.#sub.closed.then((err) => {
      if (err) this.log.error({ subject: `${ADVISORY}.>`, err }, "consumer guard hears no advisories: consumers are not checked (run `fleetwall nats-auth` again)");
    });
  }

  async #check(jsm: JetStreamManager, stream: string, name: string): Promise<void> {
    try {
      const { config } = await jsm.consumers.info(stream, name);
      const why = consumerVerdict(stream, config);
      if (why) {
        await this.#delete(jsm, stream, name, config.deliver_subject, why);
        if (config.deliver_subject?.startsWith("$KV.")) this.onTampered(config.deliver_subject);
        return;
      }
      const owner = config.deliver_subject ? inboxOwner(config.deliver_subject) : undefined;
      if (stream !== BANS_STREAM || !owner) return;
      this.#owners.set(name, owner);
      for (const old of overCap(this.#owners, owner)) await this.#delete(jsm, stream, old, undefined, `${owner} has more than ${MAX_CONSUMERS_PER_AGENT} consumers on the bans stream; its oldest go`);
    } catch (error) {
      this.log.debug({ stream, consumer: name, err: error }, "consumer check failed (already gone?)");
    }
  }

  async #delete(jsm: JetStreamManager, stream: string, name: string, deliver: string | undefined, reason: string): Promise<void> {
    this.#owners.delete(name);
    await jsm.consumers.delete(stream, name).catch(() => undefined);
    this.deleted += 1;
    this.log.warn({ stream, consumer: name, deliver, reason }, "consumer refused and deleted");
  }

  stop(): void {
    this.#sub?.unsubscribe();
  }
}
