/**
 * A digest of the ban decisions a host holds, kept incrementally on the agent and computed from the
 * bucket by the controller, so that "what H enforces" and "what H should enforce" compare without
 * listing a million elements. Order-free: the XOR of a 64-bit hash per decision (key, allow or deny,
 * expiry in whole seconds), so adding and removing are the same step.
 *
 * Both sides count a decision as held at an epoch start T (a multiple of BAN_EPOCH_MS) when it has no
 * expiry or expires after T; the agent says which T its digest is for.
 */
export const BAN_EPOCH_MS = 60_000;

export type BanKind = "allow" | "deny";

/** The start of the epoch `nowMs` falls in, in ms. */
export function banEpoch(nowMs: number, epochMs = BAN_EPOCH_MS): number {
  return Math.floor(nowMs / epochMs) * epochMs;
}

/** A decision's expiry as the digest counts it: whole seconds, rounded up; 0 for never. */
export function expirySeconds(expiresAtMs: number): number {
  return expiresAtMs === Infinity ? 0 : Math.ceil(expiresAtMs / 1000);
}

/** Whether a decision expiring at `expSec` (0: never) is held at epoch start `epochMs`. */
export function heldAt(expSec: number, epochMs: number): boolean {
  return expSec === 0 || expSec * 1000 > epochMs;
}

export class BanDigest {
  #hi = 0;
  #lo = 0;
  count = 0;

  /** Adds a decision, or removes it when it was added before (XOR). */
  toggle(key: string, kind: BanKind, expSec: number, sign: 1 | -1): void {
    const text = `${key}\n${kind}\n${expSec}`;
    this.#hi = (this.#hi ^ fnv(text, 0x811c9dc5)) >>> 0;
    this.#lo = (this.#lo ^ fnv(text, 0x050c5d1f)) >>> 0;
    this.count += sign;
  }

  get value(): string {
    return `${this.#hi.toString(16).padStart(8, "0")}${this.#lo.toString(16).padStart(8, "0")}`;
  }
}

function fnv(text: string, seed: number): number {
  let hash = seed;
  for (let i = 0; i < text.length; i += 1) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  // a final mix, so nearby keys do not give nearby hashes
  hash ^= hash >>> 15;
  hash = Math.imul(hash, 0x2c1b3c6d);
  hash ^= hash >>> 12;
  return hash >>> 0;
}
