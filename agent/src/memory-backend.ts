import { compareElements, sha256Hex, type BanSetName, type Family, type RulesetIR } from "@fleetwall/api";
import type { BansListing } from "./bans-listing.js";
import { BanOpsRefused, type BanElement, type Enforced, type FirewallBackend } from "./backend.js";
import { isIntervalSet, renderBanOps, replaceBansScript, setName, timeoutMs, type BanOp, type BanSetKind } from "./bans-render.js";
import { cidrRange } from "./cidr-range.js";
import { render, type Failsafe } from "./render.js";

export class MemoryRefusal extends Error {
  override name = "MemoryRefusal";
}

/** set name → element → when it expires (ms; Infinity for never). */
type Sets = Map<string, Map<string, number>>;

export interface MemoryBackendOptions {
  failsafe?: Failsafe;
  now?: () => number;
  /** Told every script the backend takes, as nft would get it (`--dry-run` prints them). */
  onScript?: (what: "ruleset" | "bans" | "bans-table", script: string) => void;
}

const NO_FAILSAFE: Failsafe = { sshPorts: [], sshSources: { ip: [], ip6: [] }, nats: [], dhcp: false };

/**
 * A firewall in memory with nftables' semantics where the agent depends on them: transactions are
 * atomic, an interval set refuses overlapping elements, deleting a missing element refuses the batch,
 * elements expire by their timeouts. Tests make it refuse elements or rulesets, drift, or lose a
 * table on demand.
 */
export class MemoryBackend implements FirewallBackend {
  #policy: { fingerprint: string; ruleset: RulesetIR } | undefined;
  #bans: Sets | undefined;
  #refused = new Set<string>();
  #refuseRulesets = false;
  applies = 0;
  banTransactions = 0;
  readonly #now: () => number;

  constructor(private readonly options: MemoryBackendOptions = {}) {
    this.#now = options.now ?? Date.now;
  }

  /** From now on, any batch holding this element is refused (as nft refuses a bad element). */
  refuseElement(element: string): void {
    this.#refused.add(element);
  }
  /** Every ruleset apply fails until told otherwise. */
  refuseRulesets(refuse: boolean): void {
    this.#refuseRulesets = refuse;
  }
  /** A foreign change to the policy table. */
  drift(): void {
    if (this.#policy) this.#policy = { ...this.#policy, fingerprint: `drifted ${this.#policy.fingerprint}` };
  }
  /** Someone deleted a table behind the agent's back. */
  loseTable(which: "policy" | "bans"): void {
    if (which === "policy") this.#policy = undefined;
    else this.#bans = undefined;
  }
  /** Someone emptied one set behind the agent's back (`nft flush set`). */
  flushSet(kind: BanSetKind, family: Family): void {
    this.#bans?.get(setName(kind, family))?.clear();
  }
  /** Someone deleted (`nft delete element`) or added (`nft add element`, with its expiry) one element behind the agent's back. */
  handEdit(kind: BanSetKind, family: Family, element: string, expiresAt?: number): void {
    const set = this.#bans?.get(setName(kind, family));
    if (expiresAt === undefined) set?.delete(element);
    else set?.set(element, expiresAt);
  }
  /** Whether a ruleset is in force (tests of commit-confirm use it with a bus that answers only then). */
  get ruleset(): RulesetIR | undefined {
    return this.#policy?.ruleset;
  }

  /** The live elements of one set (tests compare them with the decisions). */
  elements(kind: BanSetKind, family: Family): Map<string, number> {
    const now = this.#now();
    const set = this.#bans?.get(setName(kind, family)) ?? new Map<string, number>();
    return new Map([...set].filter(([, at]) => at > now));
  }

  async ensureTables(): Promise<boolean> {
    if (this.#bans) return false;
    this.options.onScript?.("bans-table", replaceBansScript([]));
    this.#bans = emptySets();
    return true;
  }

  async applyRuleset(ruleset: RulesetIR): Promise<Enforced> {
    const { script } = render(ruleset, this.options.failsafe ?? NO_FAILSAFE);
    if (this.#refuseRulesets) throw new MemoryRefusal("ruleset refused (on demand)");
    this.options.onScript?.("ruleset", script);
    this.applies += 1;
    const hash = sha256Hex(script);
    this.#policy = ruleset.policies.length > 0 ? { fingerprint: hash, ruleset } : undefined;
    return { rulesetHash: hash, fingerprint: this.#policy?.fingerprint ?? "absent" };
  }

  async fingerprint(): Promise<string> {
    return this.#policy?.fingerprint ?? "absent";
  }

  async bansTableIntact(): Promise<boolean> {
    return !!this.#bans;
  }

  async applyBanOps(ops: readonly BanOp[]): Promise<void> {
    if (!this.#bans) throw new BanOpsRefused("No such file or directory: table inet fleetwall_bans");
    const next = copySets(this.#bans);
    const now = this.#now();
    const fresh = ops.filter((o) => o.op === "upsert" && o.fresh);
    for (const o of ops.filter((x) => !(x.op === "upsert" && x.fresh))) {
      this.#add(next, o, now, undefined);
      this.#delete(next, o, now);
      if (o.op === "upsert") this.#add(next, o, now, o.timeoutSeconds);
    }
    for (const o of fresh) this.#add(next, o, now, o.timeoutSeconds);
    this.options.onScript?.("bans", renderBanOps(ops));
    this.banTransactions += 1;
    this.#bans = next;
  }

  async replaceBans(elements: readonly BanElement[]): Promise<void> {
    const next = emptySets();
    const now = this.#now();
    for (const e of elements) this.#add(next, e, now, e.timeoutSeconds);
    if (this.options.onScript) this.options.onScript("bans-table", replaceBansScript(elements));
    this.#bans = next;
  }

  async hasElement(kind: BanSetKind, family: Family, element: string): Promise<boolean> {
    return (this.elements(kind, family).get(element) ?? 0) > this.#now();
  }

  async listBans(): Promise<BansListing | undefined> {
    if (!this.#bans) return undefined;
    const now = this.#now();
    const out: BansListing = new Map();
    for (const [name, els] of this.#bans) {
      const live = [...els].filter(([, at]) => at > now).sort(([a], [b]) => compareElements(a, b));
      // nft lists whole seconds left, rounded down
      out.set(name as BanSetName, live.map(([element, at]) => (at === Infinity ? { element } : { element, expiresInMs: Math.floor((at - now) / 1000) * 1000 })));
    }
    return out;
  }

  async counters(): Promise<Record<string, number>> {
    return {};
  }

  close(): void {}

  #add(sets: Sets, o: { kind: BanSetKind; family: Family; element: string }, now: number, timeoutSeconds: number | undefined): void {
    if (this.#refused.has(o.element)) throw new BanOpsRefused(`Error: Could not process rule: ${o.element} refused (on demand)`);
    const set = sets.get(setName(o.kind, o.family)) as Map<string, number>;
    for (const [el, at] of set) if (at <= now) set.delete(el);
    if (isIntervalSet(o.kind) && !set.has(o.element)) {
      const r = cidrRange(o.element);
      for (const el of set.keys()) {
        const s = cidrRange(el);
        if (s.start <= r.end && r.start <= s.end) throw new BanOpsRefused(`Error: interval overlaps with an existing one: ${o.element} (${el})`);
      }
    }
    set.set(o.element, timeoutSeconds === undefined ? Infinity : now + timeoutMs(timeoutSeconds));
  }

  #delete(sets: Sets, o: { kind: BanSetKind; family: Family; element: string }, now: number): void {
    const set = sets.get(setName(o.kind, o.family)) as Map<string, number>;
    const at = set.get(o.element);
    if (at === undefined || at <= now) throw new BanOpsRefused(`Error: element does not exist: ${o.element}`);
    set.delete(o.element);
  }
}

function emptySets(): Sets {
  const sets: Sets = new Map();
  for (const kind of ["allow", "ban", "net", "local"] as const) for (const f of ["ip", "ip6"] as const) sets.set(setName(kind, f), new Map());
  return sets;
}

function copySets(sets: Sets): Sets {
  return new Map([...sets].map(([name, els]) => [name, new Map(els)]));
}
