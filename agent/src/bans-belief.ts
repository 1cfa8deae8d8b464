import { BanDigest, banKey, expirySeconds, type Family } from "@fleetwall/api";
import type { BanEntry } from "./bans-decision.js";
import { elementOfKey, keyNamesElement, listOfKey, ownCopy } from "./bans-decision.js";
import type { IntervalEntry } from "./bans-plan.js";
import { KeySet } from "./key-set.js";

/**
 * The fleet decisions a host holds, by bucket key: what the agent believes it enforces. Single
 * addresses whose key names them (nearly all of a million bans) are bytes in a `KeySet` with their
 * expiry in seconds; networks, allow entries and the rest are entries in maps. Keeps the digest the
 * agent reports (api/ban-digest.ts) and an index of expiries by epoch, so a sweep runs only when
 * something expired.
 */
export class BanBelief {
  #singles = new KeySet();
  /** Lists with keys in `#singles`, and how many: another list's key for the same address is found by asking each. */
  #lists = new Map<string, number>();
  #oddSingles = new Map<string, BanEntry>();
  #nets = new Map<string, BanEntry>();
  #allows = new Map<string, BanEntry>();
  #expiring = new Map<number, number>();
  #digest = new BanDigest();
  #denies = 0;

  constructor(private readonly epochMs: number) {}

  get denies(): number {
    return this.#denies;
  }
  get count(): number {
    return this.#digest.count;
  }
  get digest(): string {
    return this.#digest.value;
  }
  get allows(): ReadonlyMap<string, BanEntry> {
    return this.#allows;
  }

  get(key: string): BanEntry | undefined {
    const exp = this.#singles.get(key);
    if (exp !== undefined) {
      const element = elementOfKey(key);
      return { kind: "ban", family: element.includes(":") ? "ip6" : "ip", element, expiresAt: exp === 0 ? Infinity : exp * 1000 };
    }
    return this.#oddSingles.get(key) ?? this.#nets.get(key) ?? this.#allows.get(key);
  }

  /** Records what `key` holds now (undefined: nothing); returns what it held before. */
  set(key: string, entry: BanEntry | undefined): BanEntry | undefined {
    const before = this.get(key);
    if (before) this.#forget(key, before);
    if (entry) this.#keep(key, entry);
    return before;
  }

  #keep(key: string, e: BanEntry): void {
    const expSec = expirySeconds(e.expiresAt);
    if (e.kind === "ban" && keyNamesElement(key, e.element)) {
      this.#singles.add(key, expSec);
      const list = listOfKey(key);
      this.#lists.set(list, (this.#lists.get(list) ?? 0) + 1);
    } else this.#mapOf(e.kind).set(ownCopy(key), e);
    if (e.kind !== "allow") this.#denies += 1;
    if (expSec !== 0) this.#expiring.set(this.#epochOf(expSec), (this.#expiring.get(this.#epochOf(expSec)) ?? 0) + 1);
    this.#digest.toggle(key, e.kind === "allow" ? "allow" : "deny", expSec, 1);
  }

  #forget(key: string, e: BanEntry): void {
    const expSec = expirySeconds(e.expiresAt);
    if (this.#singles.delete(key)) {
      const list = listOfKey(key);
      const n = (this.#lists.get(list) ?? 1) - 1;
      if (n === 0) this.#lists.delete(list);
      else this.#lists.set(list, n);
    } else this.#mapOf(e.kind).delete(key);
    if (e.kind !== "allow") this.#denies -= 1;
    if (expSec !== 0) {
      const n = (this.#expiring.get(this.#epochOf(expSec)) ?? 1) - 1;
      if (n === 0) this.#expiring.delete(this.#epochOf(expSec));
      else this.#expiring.set(this.#epochOf(expSec), n);
    }
    this.#digest.toggle(key, e.kind === "allow" ? "allow" : "deny", expSec, -1);
  }

  #mapOf(kind: BanEntry["kind"]): Map<string, BanEntry> {
    return kind === "allow" ? this.#allows : kind === "net" ? this.#nets : this.#oddSingles;
  }

  #epochOf(expSec: number): number {
    return Math.floor((expSec * 1000 - 1) / this.epochMs);
  }

  /** The latest expiry (ms; Infinity for never, 0 for no holder) among the keys that ban this single address. */
  singleExpiry(element: string): number {
    let best = 0;
    for (const list of this.#lists.keys()) {
      const exp = this.#singles.get(banKey(list, element));
      if (exp !== undefined) best = Math.max(best, exp === 0 ? Infinity : exp * 1000);
    }
    for (const e of this.#oddSingles.values()) if (e.element === element) best = Math.max(best, e.expiresAt);
    return best;
  }

  /** The entries an interval set is planned from. */
  intervals(kind: "allow" | "net", family: Family): IntervalEntry[] {
    const out: IntervalEntry[] = [];
    for (const e of (kind === "allow" ? this.#allows : this.#nets).values()) if (e.family === family) out.push(e);
    return out;
  }

  /** Every single address with its latest expiry, once each (a rebuild writes them). */
  forEachSingle(fn: (element: string, family: Family, expiresAt: number) => void): void {
    const seen = new Set<string>();
    this.#singles.forEach((key) => {
      const element = elementOfKey(key);
      // an address several lists ban is written once, by whichever of its keys comes first
      if (this.#lists.size > 1) {
        if (seen.has(element)) return;
        seen.add(element);
      }
      fn(element, element.includes(":") ? "ip6" : "ip", this.singleExpiry(element));
    });
    for (const e of this.#oddSingles.values()) {
      if (seen.has(e.element)) continue;
      seen.add(e.element);
      fn(e.element, e.family, this.singleExpiry(e.element));
    }
  }

  /** Up to `n` single addresses this host holds, picked at random, with their latest expiry (spot checks). */
  sampleSingles(n: number): { element: string; family: Family; expiresAt: number }[] {
    return this.#singles.sample(n).map(([key]) => {
      const element = elementOfKey(key);
      return { element, family: element.includes(":") ? "ip6" : "ip", expiresAt: this.singleExpiry(element) };
    });
  }

  /** Forgets every entry that expired by epoch start `epoch` (ms); returns them. Scans only when some did. */
  sweep(epoch: number): { key: string; entry: BanEntry }[] {
    const due = Math.floor(epoch / this.epochMs);
    if (![...this.#expiring.keys()].some((e) => e < due)) return [];
    const expired: { key: string; entry: BanEntry }[] = [];
    this.#singles.forEach((key, exp) => {
      if (exp !== 0 && exp * 1000 <= epoch) expired.push({ key, entry: this.get(key) as BanEntry });
    });
    for (const map of [this.#oddSingles, this.#nets, this.#allows]) for (const [key, e] of map) if (e.expiresAt <= epoch) expired.push({ key, entry: e });
    for (const { key } of expired) this.set(key, undefined);
    return expired;
  }
}
