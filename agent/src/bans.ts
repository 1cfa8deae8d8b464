import { CidrSet, matchesSelector, parseCidr, type BanDecision, type Labels } from "@fleetwall/api";
import type { Logger } from "pino";
import { BANS_TABLE, bansTableScript, renderBanOps, type BanOp } from "./bans-render.js";
import { KeySet } from "./key-set.js";
import { listTable, type NftRunner } from "./nft.js";

export interface BanEntryState {
  key: string;
  op: BanOp;
  expiresAt: number | undefined;
}

/**
 * Turns a decision into the set operation it needs on this host at `now` (ms); pure. `parseTime` reads
 * the expiry (a bulk load passes one that remembers the last: an import's decisions share one).
 */
export function decisionOp(decision: BanDecision, labels: Labels, now: number, parseTime: (text: string) => number = Date.parse): BanOp | undefined {
  const cidr = signedCidr(decision.cidr);
  if (!cidr) return undefined;
  const applies = matchesSelector(decision.hostSelector, labels);
  const expires = decision.expiresAt ? parseTime(decision.expiresAt) : undefined;
  const single = cidr.prefix === (cidr.family === "ip" ? 32 : 128);
  const kind = decision.type === "Allow" ? "allow" : single ? "ban" : "net";
  const live = applies && (expires === undefined || expires > now + 500);
  // one object of one shape, no spread: a bulk load makes a million of these
  const op: BanOp = { op: live ? "upsert" : "remove", kind, family: cidr.family, element: cidr.text };
  if (live && expires !== undefined) op.timeoutSeconds = (expires - now) / 1000;
  return op;
}

/** `Date.parse` that remembers the last text and its time: about 0.27 µs a decision saved in a bulk load. */
export function rememberingParse(): (text: string) => number {
  let last = "";
  let ms = Number.NaN;
  return (text) => {
    if (text !== last) {
      last = text;
      ms = Date.parse(text);
    }
    return ms;
  };
}

/**
 * The element a bans-bucket key names when it was made by `banKey`: the text after the list, with
 * '_' for ':' (IPv6) or for '/' (IPv4 networks). Keys made otherwise give something else, which the
 * caller notices by comparing: only a match is ever relied on.
 */
export function elementOfKey(key: string): string {
  const text = key.slice(key.indexOf(".") + 1);
  if (!text.includes("_")) return text;
  return text.includes(".") ? text.replace("_", "/") : text.replaceAll("_", ":");
}

/**
 * `elementOfKey(key) === element`, without building the string: a bulk load asks this once per
 * decision, and the string cost about a microsecond (replaceAll, and the garbage).
 */
export function keyNamesElement(key: string, element: string): boolean {
  const start = key.indexOf(".") + 1;
  if (key.length - start !== element.length) return false;
  const dotted = key.indexOf(".", start) >= 0;
  let slashed = false;
  for (let i = 0; i < element.length; i += 1) {
    let want = key.charCodeAt(start + i);
    if (want === 95 /* _ */) {
      if (!dotted) want = 58 /* : */;
      else if (!slashed) {
        want = 47; /* / */
        slashed = true;
      }
    }
    if (want !== element.charCodeAt(i)) return false;
  }
  return true;
}

const scratch = Buffer.allocUnsafe(4096);
/**
 * A copy of `key` that holds no other string alive. Keys come as slices of their NATS subjects, and
 * a slice keeps its whole subject: for 100,000 bans that is 4.5 MiB more than the keys themselves.
 */
function ownCopy(key: string): string {
  if (key.length > 1024) return key; // not a ban key in practice; 3 bytes per unit would still fit
  return scratch.toString("utf8", 0, scratch.write(key, 0, "utf8"));
}

const CANONICAL = /^(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9a-f:]+)(?:\/[0-9]{1,3})?$/;

/**
 * Family and prefix of a decision's address. Decisions are signed by the controller, which writes
 * them canonical, so the common case needs no full parse; anything unusual gets one (and nft refuses
 * what is still wrong, element by element).
 */
function signedCidr(text: string): { family: "ip" | "ip6"; prefix: number; text: string } | undefined {
  if (CANONICAL.test(text)) {
    const family = text.includes(":") ? "ip6" : "ip";
    const slash = text.indexOf("/");
    const prefix = slash < 0 ? (family === "ip" ? 32 : 128) : Number(text.slice(slash + 1));
    return { family, prefix, text };
  }
  try {
    return parseCidr(text);
  } catch {
    return undefined;
  }
}

/**
 * Keeps the kernel's ban sets equal to the decisions that apply to this host. Changes are queued
 * and flushed as one nft transaction at a time: a single ban goes out at once, a snapshot of many
 * goes out in a few large batches. A batch nft refuses is split to find and drop the bad element.
 */
export class BanSync {
  /** Allow entries in force by key: few, and searched on every local ban. */
  #allows = new Map<string, BanOp>();
  #allowSet: CidrSet | undefined;
  /**
   * Deny entries in force: by key alone when the key names its element (`elementOfKey`), as bucket
   * keys do for addresses and IPv4 networks; otherwise by key with the element (the ban or net set
   * and family follow from it). A million bans must stay small in memory and cheap to collect: the
   * keys that name their element, nearly all of them, are bytes in a `KeySet`.
   */
  #named = new KeySet();
  #denies = new Map<string, string>();
  #pending = new Map<string, BanOp>();
  /** Elements a key held before it came to mean another one, to be removed ("key\nkind element"). */
  #superseded = new Map<string, BanOp>();
  #flushing: Promise<void> | undefined;
  #errors = 0;
  #applied = 0;

  constructor(
    private readonly nft: NftRunner,
    private readonly log: Logger,
    private readonly maxBatch = 50_000,
  ) {}

  /** Creates the bans table when it does not exist; an existing one (and its bans) is left as it is. */
  async ensureTable(): Promise<void> {
    if (!(await listTable(this.nft, "inet", BANS_TABLE))) {
      await this.nft.run(["-f", "-"], bansTableScript());
      this.log.info("bans table created");
    }
    // start the long-lived nft now (an empty script changes nothing), so the first ban does not wait for it
    await this.nft.transact?.("");
  }

  get activeBans(): number {
    return this.#named.size + this.#denies.size;
  }

  get errors(): number {
    return this.#errors;
  }

  get applied(): number {
    return this.#applied;
  }

  /**
   * True when an allow entry in force covers `address`, or lies inside it when it is a network (a
   * local jail must not ban it either). The entries are parsed once per change, not per check.
   */
  allowed(address: string): boolean {
    if (this.#allows.size === 0) return false;
    this.#allowSet ??= new CidrSet([...this.#allows.values()].map((op) => parseCidr(op.element)));
    return this.#allowSet.overlaps(parseCidr(address));
  }

  /** Records what `key` should be now and schedules the kernel change. Takes ownership of `op`. */
  set(key: string, op: BanOp | undefined): Promise<void> {
    const current = this.#current(key);
    if (!op || op.op === "remove") {
      // nothing in force (or its removal already queued): nothing to do
      if (!current) return this.#flushing ?? Promise.resolve();
      if (this.#allows.delete(key)) this.#allowSet = undefined;
      if (!this.#named.delete(key)) this.#denies.delete(key);
      this.#pending.set(key, { ...current, op: "remove" });
      return this.#schedule();
    }
    if (current && (current.kind !== op.kind || current.family !== op.family || current.element !== op.element)) {
      // the key now means another element (or set): the old one goes first, in the next batch
      this.#superseded.set(`${key}\n${current.kind} ${current.element}`, { ...current, op: "remove" });
      if (this.#allows.delete(key)) this.#allowSet = undefined;
      if (!this.#named.delete(key)) this.#denies.delete(key);
      return this.set(key, op);
    }
    // a key that comes back to an element it left must not lose it to that element's queued removal
    if (this.#superseded.size > 0) this.#superseded.delete(`${key}\n${op.kind} ${op.element}`);
    const queued = current ? undefined : this.#pending.get(key);
    // marked in place, not copied: a bulk load sets 100,000s of these
    op.fresh = !current && (!queued || !!queued.fresh);
    if (op.kind === "allow") {
      this.#allows.set(key, op);
      this.#allowSet = undefined;
    } else if (!current) {
      // (a key in force already holds this element) a new key is copied out of its subject
      if (keyNamesElement(key, op.element)) this.#named.add(key);
      else this.#denies.set(ownCopy(key), op.element);
    }
    this.#pending.set(key, op);
    return this.#schedule();
  }

  /** What is in force for `key`, rebuilt from the compact form (the set follows from the element). */
  #current(key: string): BanOp | undefined {
    const allow = this.#allows.size > 0 ? this.#allows.get(key) : undefined;
    if (allow) return allow;
    const element = this.#named.has(key) ? elementOfKey(key) : this.#denies.get(key);
    if (element === undefined) return undefined;
    const family = element.includes(":") ? "ip6" : "ip";
    const slash = element.indexOf("/");
    const single = slash < 0 || Number(element.slice(slash + 1)) === (family === "ip" ? 32 : 128);
    return { op: "upsert", kind: single ? "ban" : "net", family, element };
  }

  #schedule(): Promise<void> {
    this.#flushing ??= (async () => {
      await Promise.resolve();
      while (this.#pending.size > 0 || this.#superseded.size > 0) {
        // removals of superseded elements first (few), then the first maxBatch entries of the queue:
        // copying the whole queue per batch would cost O(n²/batch)
        const batch: BanOp[] = [...this.#superseded.values()];
        this.#superseded.clear();
        if (this.#pending.size <= this.maxBatch) {
          // the usual case: all of it, and a new queue rather than a delete per entry
          for (const op of this.#pending.values()) batch.push(op);
          this.#pending = new Map();
        } else {
          for (const [k, op] of this.#pending) {
            batch.push(op);
            this.#pending.delete(k);
            if (batch.length >= this.maxBatch) break;
          }
        }
        await this.#apply(batch);
      }
      this.#flushing = undefined;
    })();
    return this.#flushing;
  }

  async #apply(batch: BanOp[]): Promise<void> {
    try {
      const script = renderBanOps(batch);
      if (this.nft.transact) await this.nft.transact(script);
      else await this.nft.run(["-f", "-"], script);
      this.#applied += batch.length;
      // small batches are single bans: their elements in the log let latency be measured end to end
      if (batch.length <= 8) this.log.debug({ elements: batch.map((o) => `${o.op} ${o.element}`) }, "ban elements applied");
      else this.log.debug({ count: batch.length }, "ban elements applied");
    } catch (error) {
      if (batch.length === 1) {
        this.#errors += 1;
        this.log.error({ element: batch[0]?.element, err: error }, "ban element refused by nft");
        return;
      }
      const half = Math.ceil(batch.length / 2);
      await this.#apply(batch.slice(0, half));
      await this.#apply(batch.slice(half));
    }
  }

  /** Resolves when everything queued so far is in the kernel. */
  async idle(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }
}
