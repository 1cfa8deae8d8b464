import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";

export class PublishError extends Error {
  override name = "PublishError";
}

interface Pending {
  subject: string;
  data: Uint8Array;
  resolve: (seq: number) => void;
  reject: (error: Error) => void;
  deadline: number;
}

const dec = new TextDecoder();
const RETRY_MS = 250;
/**
 * While the stream keeps acknowledging, a put waits up to this many times its timeout: a server that
 * is slow (thousands of puts queued on a loaded machine) is waited out; one that stopped answering is not.
 */
const PROGRESS_FACTOR = 10;

/**
 * Publishes to JetStream subjects (a KV put is a publish to `$KV.<bucket>.<key>`) and matches the
 * stream's acks on one subscription. nats.js makes every put a request of its own: a timer, a request
 * object, and on completion an Error it never throws (`RequestOne.cancel` rejects the settled
 * promise with a new RequestError), which was 11 % of the controller's CPU at 10,000 puts a second.
 * Here a put is one core publish with a reply subject under this publisher's inbox; its ack settles
 * it, and one timer rejects the puts not acknowledged in time.
 */
export class AckedPublisher {
  readonly #prefix = createInbox();
  readonly #pending = new Map<string, Pending>();
  readonly #sub: Subscription;
  readonly #sweeper: NodeJS.Timeout;
  #next = 0;
  /** When the last ack came (0: none yet). */
  #lastAckAt = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 5_000,
  ) {
    this.#sub = nc.subscribe(`${this.#prefix}.*`, { callback: (_err, msg) => this.#settle(msg) });
    this.#sweeper = setInterval(() => this.#expire(), Math.min(1_000, timeoutMs));
    this.#sweeper.unref();
  }

  /** Puts in flight (published, not yet acknowledged or timed out). */
  get pending(): number {
    return this.#pending.size;
  }

  /** Resolves with the stream sequence once the stream has stored the message; rejects otherwise. */
  publish(subject: string, data: Uint8Array): Promise<number> {
    const id = (this.#next++).toString(36);
    return new Promise<number>((resolve, reject) => {
      this.#pending.set(id, { subject, data, resolve, reject, deadline: Date.now() + this.timeoutMs });
      try {
        this.nc.publish(subject, data, { reply: `${this.#prefix}.${id}` });
      } catch (error) {
        this.#pending.delete(id);
        reject(new PublishError(`publish to ${subject} failed`, { cause: error }));
      }
    });
  }

  #settle(msg: Msg): void {
    const id = msg.subject.slice(this.#prefix.length + 1);
    const p = this.#pending.get(id);
    if (!p) return; // acknowledged after its timeout
    this.#lastAckAt = Date.now();
    if (msg.headers?.code === 503 && Date.now() + RETRY_MS < p.deadline) {
      // no stream answered: none stores the subject, or its leader is being elected; ask again until the deadline
      setTimeout(() => this.#pending.has(id) && this.nc.publish(p.subject, p.data, { reply: msg.subject }), RETRY_MS);
      return;
    }
    this.#pending.delete(id);
    if (msg.headers?.hasError) {
      p.reject(new PublishError(msg.headers.code === 503 ? "no stream stores this subject" : `publish refused: ${msg.headers.code} ${msg.headers.description}`));
      return;
    }
    let ack: { seq?: unknown; error?: { description?: unknown } };
    try {
      ack = JSON.parse(dec.decode(msg.data)) as typeof ack;
    } catch {
      p.reject(new PublishError("the stream's ack is not JSON"));
      return;
    }
    // a refusal names the stream and carries a sequence (0) too: the error decides
    if (ack.error !== undefined || typeof ack.seq !== "number" || ack.seq < 1) p.reject(new PublishError(`publish refused: ${String(ack.error?.description ?? "no sequence in the ack")}`));
    else p.resolve(ack.seq);
  }

  /**
   * Rejects the puts not acknowledged in time: `timeoutMs` after they were published, or, while acks
   * still come (the stream is working through a queue), PROGRESS_FACTOR times that.
   */
  #expire(): void {
    const now = Date.now();
    const extra = now - this.#lastAckAt < this.timeoutMs ? (PROGRESS_FACTOR - 1) * this.timeoutMs : 0;
    for (const [id, p] of this.#pending) {
      if (p.deadline + extra > now) break; // in the order published, so in the order they expire
      this.#pending.delete(id);
      p.reject(new PublishError(`no ack within ${this.timeoutMs} ms`));
    }
  }

  /** Rejects what is still in flight and stops listening. */
  close(): void {
    clearInterval(this.#sweeper);
    this.#sub.unsubscribe();
    for (const p of this.#pending.values()) p.reject(new PublishError("publisher closed"));
    this.#pending.clear();
  }
}
