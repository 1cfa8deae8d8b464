import { BanDigest, expirySeconds, type Family } from "@fleetwall/api";
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
  /** Keys this host holds for itself (its management sources), not from the bucket: not in the digest. */
  #own = new Set<string>();
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

  /** Records what `key` holds now (undefined: nothing); returns what it held before (`before`, when the caller has it). */
  set(key: string, entry: BanEntry | undefined, before: BanEntry | undefined = this.get(key)): BanEntry | undefined {
    if (before) this.#forget(key, before);
    if (entry) this.#keep(key, entry);
    return before;
  }

  /** The entries this host holds for itself (`own`). */
  ownEntries(): BanEntry[] {
    return [...this.#own].map((k) => this.get(k)).filter((e): e is BanEntry => !!e);
  }

  /** Marks `key` as this host's own, not a decision: kept and enforced, never in the digest or count. */
  own(key: string): void {
    this.#own.add(key);
  }

  /** Forgets that `key` was this host's own (it holds nothing any more). */
  disown(key: string): void {
    if (!this.get(key)) this.#own.delete(key);
  }

  #keep(key: string, e: BanEntry): void {
    const expSec = expirySeconds(e.expiresAt);
    if (e.kind === "ban" && keyNamesElement(key, e.element)) {
      this.#singles.add(key, expSec);
      const list = this.#listOf(key);
      this.#lists.set(list, (this.#lists.get(list) ?? 0) + 1);
    } else this.#mapOf(e.kind).set(ownCopy(key), e);
    if (e.kind !== "allow") this.#denies += 1;
    if (expSec !== 0) {
      const epoch = this.#epochOf(expSec);
      this.#expiring.set(epoch, (this.#expiring.get(epoch) ?? 0) + 1);
    }
    if (!this.#own.has(key)) this.#digest.toggle(key, e.kind === "allow" ? "allow" : "deny", expSec, 1);
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
    if (!this.#own.has(key)) this.#digest.toggle(key, e.kind === "allow" ? "allow" : "deny", expSec, -1);
  }

  #lastList = "";
  /** The list of a key, the same string as the last one's when it is the same list (a bulk load is one list). */
  #listOf(key: string): string {
    const dot = key.indexOf(".");
    if (dot === this.#lastList.length && key.startsWith(this.#lastList)) return this.#lastList;
    this.#lastList = key.slice(0, Math.max(0, dot));
    return this.#lastList;
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
    // the key's text after the list, made once: a bulk load asks this for every address
    const tail = this.#lists.size > 0 ? keyTail(element) : "";
    for (const list of this.#lists.keys()) {
      const exp = this.#singles.get(`${list}.${tail}`);
      if (exp !== undefined) best = Math.max(best, exp === 0 ? Infinity : exp * 1000);
    }
    if (this.#oddSingles.size > 0) for (const e of this.#oddSingles.values()) if (e.element === element) best = Math.max(best, e.expiresAt);
    return best;
  }

  /** Whether a key other than `key` bans this single address. Without a search when only `key`'s list holds addresses. */
  heldByOthers(key: string, element: string): boolean {
    if (this.#oddSingles.size === 0 && (this.#lists.size === 0 || (this.#lists.size === 1 && this.#lists.has(listOfKey(key))))) return false;
    const tail = keyTail(element);
    for (const list of this.#lists.keys()) {
      const other = `${list}.${tail}`;
      if (other !== key && this.#singles.has(other)) return true;
    }
    for (const [k, e] of this.#oddSingles) if (k !== key && e.element === element) return true;
    return false;
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
    if (this.#lists.size <= 1 && this.#oddSingles.size === 0) {
      // one list: each address has one key, and its expiry is the key's
      this.#singles.forEach((key, exp) => {
        const element = elementOfKey(key);
        fn(element, element.includes(":") ? "ip6" : "ip", exp === 0 ? Infinity : exp * 1000);
      });
      return;
    }
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

/** What `banKey` puts after the list for this element ('_' for ':' and '/'). */
function keyTail(element: string): string {
  if (element.includes("/")) return element.replace(/[:/]/g, "_");
  return element.includes(":") ? element.replaceAll(":", "_") : element;
}
