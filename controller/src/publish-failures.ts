import type { DesiredState } from "@fleetwall/api";
import type { Logger } from "pino";
import { DesiredTooLargeError } from "./desired-wire.js";

/** Why a host's new desired state is not in its key: too large for the bus (until it changes), or a put that failed (retried). */
export interface PublishFailure {
  revision: number;
  hash: string;
  reason: "TooLarge" | "PublishFailed";
  message: string;
  /** TooLarge: the payload's text, what would have been sent, and the bus's limit (bytes). */
  textBytes?: number;
  wireBytes?: number;
  limit?: number;
}

/** A put of desired states failed; each host's failure is in status and was logged once. */
export class DesiredNotPublishedError extends Error {
  override name = "DesiredNotPublishedError";
}

/** The failure a publish error means for a state. Pure. */
export function publishFailureOf(state: Pick<DesiredState, "revision" | "hash">, error: unknown): PublishFailure {
  const base = { revision: state.revision, hash: state.hash };
  if (error instanceof DesiredTooLargeError) {
    return { ...base, reason: "TooLarge", message: `revision ${state.revision} not published: ${error.message}`, textBytes: error.textBytes, wireBytes: error.wireBytes, limit: error.limit };
  }
  return { ...base, reason: "PublishFailed", message: `revision ${state.revision} not published: ${error instanceof Error ? error.message : String(error)}` };
}

/**
 * The hosts whose newest desired state is not in their key, and why. A host keeps the state its key
 * holds (and its agent what it applied): status says so instead of "in sync". A state too large is
 * not tried again until it changes; other failures are retried by the reconcile loop.
 */
export class PublishFailures {
  readonly #byHost = new Map<string, PublishFailure>();
  /** Failed puts (every attempt), for the metric. */
  total = 0;

  /** Records a failure; true when it is news (another state or reason than the one recorded), to be logged. */
  record(hostId: string, failure: PublishFailure): boolean {
    const before = this.#byHost.get(hostId);
    this.#byHost.set(hostId, failure);
    this.total += 1;
    // a retry of an unacknowledged put goes out under a new revision: the same state and reason is no news
    return !before || before.hash !== failure.hash || before.reason !== failure.reason;
  }

  /**
   * Records why a host's state is not published and logs it, once per state and reason (not per
   * retry); returns the error, for the caller to throw on.
   */
  note(state: Pick<DesiredState, "hostId" | "revision" | "hash" | "policies">, error: unknown, log: Logger): unknown {
    const f = publishFailureOf(state, error);
    if (this.record(state.hostId, f)) {
      const { message: _, hash: __, ...fields } = f;
      log.error({ host: state.hostId, ...fields, policies: state.policies.map((p) => p.name), err: error }, "desired state not published; the host keeps its previous state");
    }
    return error;
  }

  /** Publishing this state to this host is known to be futile: it is too large. */
  futile(hostId: string, hash: string): boolean {
    const f = this.#byHost.get(hostId);
    return f?.reason === "TooLarge" && f.hash === hash;
  }

  /** The host's key holds its newest state. */
  published(hostId: string): void {
    this.#byHost.delete(hostId);
  }

  /** Forgets failures of states no host should have any more (`current`: the hash each host should have now). */
  retain(current: (hostId: string) => string | undefined): void {
    for (const [hostId, f] of this.#byHost) if (current(hostId) !== f.hash) this.#byHost.delete(hostId);
  }

  get byHost(): ReadonlyMap<string, PublishFailure> {
    return this.#byHost;
  }
}
