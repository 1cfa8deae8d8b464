import type { NatsConnection } from "@nats-io/transport-node";
import { JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream";
import { BanSignal, SIGNALS_STREAM, busJsonOrUndefined } from "@fleetwall/api";
import type { Logger } from "pino";
import { ThrottledLines, delay, untilAborted } from "@fleetwall/runtime";
import { ARBITER_CONSUMER, MAX_DELIVER, ensureArbiterConsumer, redeliverDelayMs } from "./bus-limits.js";

/** How often the arbiter's consumer is looked for while consuming. */
const CHECK_MS = 5_000;

/** A signal that can never be handled as it is (judging it again gives the same answer): terminated, not redelivered. */
export class SignalRefusedError extends Error {
  override name = "SignalRefusedError";
}

/**
 * What becomes of a signal whose handling failed: terminated when judging it again would fail again
 * (SignalRefusedError) or after MAX_DELIVER deliveries, otherwise redelivered. Pure.
 */
export function afterFailure(error: unknown, deliveryCount: number): "term" | "nak" {
  return error instanceof SignalRefusedError || deliveryCount >= MAX_DELIVER ? "term" : "nak";
}

/** A signal from its bytes: validated at the edge, undefined when malformed. */
export function parseSignal(data: Uint8Array): BanSignal | undefined {
  const r = BanSignal.safeParse(busJsonOrUndefined(data, "signal"));
  return r.success ? r.data : undefined;
}

/** The arbiter's side of the signals stream. */
export class SignalConsumer {
  /** How often the arbiter's consumer had to be made again. */
  recreations = 0;
  /** The stream sequence of the last signal handled: a consumer made again starts after it. */
  #lastSeq = 0;
  /** Failing signals are one line per outcome per interval, then a count: a flood cannot grow the log by its size. */
  readonly #failures: ThrottledLines;

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly onInvalid: (reason: string) => void,
  ) {
    this.#failures = new ThrottledLines(log, "signals not handled, not logged one by one", 10_000);
  }

  /**
   * Consumes the durable signals stream: each signal is acknowledged only after `onSignal` handled
   * it. A malformed one is terminated (never redelivered); a failed one is redelivered at most
   * MAX_DELIVER times. A consumer that was deleted is made again, and the log says so.
   */
  async run(onSignal: (s: BanSignal) => Promise<void>, signal: AbortSignal): Promise<void> {
    try {
      await this.#consume(onSignal, signal);
    } finally {
      this.#failures.close();
    }
  }

  async #consume(onSignal: (s: BanSignal) => Promise<void>, signal: AbortSignal): Promise<void> {
    const js = jetstream(this.nc);
    while (!signal.aborted) {
      // every wait races the abort signal: with NATS gone, a JetStream request waits for the bus
      const consumer = await untilAborted(js.consumers.get(SIGNALS_STREAM, ARBITER_CONSUMER), signal).catch(() => undefined);
      if (signal.aborted) return;
      if (!consumer) {
        await this.#recreateArbiter("consumer missing", signal);
        continue;
      }
      // short pulls: when the consumer's leader moves to another server (a cluster losing one), the
      // missing heartbeats are noticed within seconds, not the default half minute
      const messages = await untilAborted(consumer.consume({ max_messages: 256, expires: 5_000, abort_on_missing_resource: true }), signal, (late) => void late.close()).catch(() => undefined);
      if (signal.aborted) return;
      if (!messages) continue;
      const stop = () => void messages.close();
      signal.addEventListener("abort", stop, { once: true });
      let missing = "";
      void (async () => {
        for await (const s of messages.status()) {
          if (s.type === "consumer_deleted" || s.type === "consumer_not_found") {
            missing = s.type;
            void messages.close();
          }
        }
      })().catch(() => undefined);
      // a consumer deleted while no pull waits shows no notification: look for it now and then
      const check = setInterval(() => {
        void jetstreamManager(this.nc)
          .then((jsm) => jsm.consumers.info(SIGNALS_STREAM, ARBITER_CONSUMER))
          .catch((error: unknown) => {
            if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound) {
              missing ||= "consumer not found";
              void messages.close();
            }
          });
      }, CHECK_MS);
      try {
        for await (const m of messages) {
          await this.#handleSignal(m, onSignal);
          this.#lastSeq = Math.max(this.#lastSeq, m.info.streamSequence);
        }
      } catch (error) {
        // with abort_on_missing_resource, a deleted consumer ends the iterator with an error
        missing ||= String(error);
      } finally {
        clearInterval(check);
      }
      signal.removeEventListener("abort", stop);
      if (!signal.aborted) await this.#recreateArbiter(missing || "consumer ended", signal);
    }
  }

  async #handleSignal(m: JsMsg, onSignal: (s: BanSignal) => Promise<void>): Promise<void> {
    const parsed = parseSignal(m.data);
    if (!parsed || parsed.hostId !== m.subject.split(".")[2]) {
      this.onInvalid("malformed signal or host id does not match subject");
      m.term();
      return;
    }
    try {
      await onSignal(parsed);
      m.ack();
    } catch (error) {
      const last = afterFailure(error, m.info.deliveryCount) === "term";
      const fields = { err: error, delivery: m.info.deliveryCount, last, host: parsed.hostId, jail: parsed.jail };
      this.#failures.write("warn", last ? "given up" : "redelivered", fields, last ? "signal not handled; giving it up" : "signal not handled; it will be redelivered");
      if (last) m.term();
      else m.nak(redeliverDelayMs(m.info.deliveryCount));
    }
  }

  /** Makes the arbiter's consumer again (it was deleted, or its consume ended) and says so. */
  async #recreateArbiter(why: string, signal: AbortSignal): Promise<void> {
    try {
      const jsm = await untilAborted(jetstreamManager(this.nc), signal);
      const existed = await untilAborted(jsm.consumers.info(SIGNALS_STREAM, ARBITER_CONSUMER).then(() => true, () => false), signal);
      if (!existed) {
        await untilAborted(ensureArbiterConsumer(jsm, this.#lastSeq), signal);
        this.recreations += 1;
        this.log.warn({ consumer: ARBITER_CONSUMER, why, afterSequence: this.#lastSeq }, "arbiter consumer was missing; recreated");
      }
    } catch (error) {
      if (signal.aborted) return;
      this.log.error({ consumer: ARBITER_CONSUMER, err: error }, "arbiter consumer not recreated; retrying");
      await delay(1000, signal);
    }
  }
}
