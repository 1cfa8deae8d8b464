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
    // two FNV-1a hashes of "key\nkind\nexpSec" in one pass, without building the text
    let a = 0x811c9dc5;
    let b = 0x050c5d1f;
    const step = (c: number) => {
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x01000193);
    };
    for (let i = 0; i < key.length; i += 1) step(key.charCodeAt(i));
    step(10);
    step(kind === "allow" ? 97 : 100);
    step(10);
    for (let e = expSec; ; e = Math.floor(e / 10)) {
      step(48 + (e % 10));
      if (e < 10) break;
    }
    this.#hi = (this.#hi ^ mix(a)) >>> 0;
    this.#lo = (this.#lo ^ mix(b)) >>> 0;
    this.count += sign;
  }

  get value(): string {
    return `${this.#hi.toString(16).padStart(8, "0")}${this.#lo.toString(16).padStart(8, "0")}`;
  }
}

/** A final mix, so nearby keys do not give nearby hashes. */
function mix(h: number): number {
  let hash = h ^ (h >>> 15);
  hash = Math.imul(hash, 0x2c1b3c6d);
  hash ^= hash >>> 12;
  return hash >>> 0;
}
