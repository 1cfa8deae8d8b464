import { REPLAY_TOLERANCE_MS, replayedDecision, type BanDecision } from "@fleetwall/api";

/** How long a lifted decision's signing time is remembered: past it, the timing check alone catches a put-back. */
const TOMBSTONE_MS = 2 * REPLAY_TOLERANCE_MS;
const MAX_TOMBSTONES = 100_000;
/** Clock skew between controller replicas tolerated when one decision supersedes another. */
const SKEW_MS = 1_000;

const issuedMs = (d: BanDecision | undefined) => (d?.issuedAt ? Date.parse(d.issuedAt) : Number.NaN);

/**
 * Tells a replayed decision in the bans bucket from a new one, as the controller's watch sees each
 * entry: stored long after it was signed (`replayedDecision`), signed before the decision it
 * replaces, or signed before a decision of the same key that was lifted a moment ago (which the
 * timing check alone would let through for REPLAY_TOLERANCE_MS). Bounded memory.
 */
export class ReplayGuard {
  /** Lifted keys: the lifted decision's signing time and when it was lifted, oldest first. */
  readonly #lifted = new Map<string, { issued: number; at: number }>();

  /** Why the entry is a replay, or undefined; `previous` is what the key held before it. */
  check(key: string, d: BanDecision | null, previous: BanDecision | undefined, storedAtMs: number | undefined, nowMs: number): string | undefined {
    this.#prune(nowMs);
    if (!d) {
      const issued = issuedMs(previous);
      if (Number.isFinite(issued)) this.#remember(key, issued, nowMs);
      return undefined;
    }
    const late = replayedDecision(d, storedAtMs);
    if (late) return late;
    const issued = issuedMs(d);
    if (!Number.isFinite(issued)) return undefined;
    if (issued < issuedMs(previous) - SKEW_MS) return `replayed: signed ${d.issuedAt}, before the decision it replaces (${previous?.issuedAt})`;
    const lifted = this.#lifted.get(key);
    if (lifted && issued <= lifted.issued) return `replayed: signed ${d.issuedAt}, a decision lifted since`;
    return undefined;
  }

  #remember(key: string, issued: number, nowMs: number): void {
    this.#lifted.delete(key);
    this.#lifted.set(key, { issued, at: nowMs });
    if (this.#lifted.size > MAX_TOMBSTONES) this.#lifted.delete(this.#lifted.keys().next().value as string);
  }

  #prune(nowMs: number): void {
    for (const [key, t] of this.#lifted) {
      if (nowMs - t.at < TOMBSTONE_MS) break;
      this.#lifted.delete(key);
    }
  }
}
