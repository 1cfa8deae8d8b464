import { sha256Hex, type Family, type RulesetIR } from "@fleetwall/api";
import { BanOpsRefused, type BanElement, type Enforced, type FirewallBackend } from "./backend.js";
import { BANS_TABLE, bansTableScript, expectedBansLayout, renderBanOps, replaceBansScript, setName, type BanOp, type BanSetKind } from "./bans-render.js";
import { parseBansListing, type BansListing } from "./bans-listing.js";
import { NftError, applyScript, listTable, type NftObject, type NftRunner } from "./nft.js";
import { chainComments, compareReadback, fingerprint } from "./readback.js";
import { FAMILY, TABLE, auditCounterName, render, type Failsafe } from "./render.js";

export type { Enforced } from "./backend.js";

export class ReadbackError extends Error {
  override name = "ReadbackError";
}

/** The nftables backend: renders, applies atomically, reads back. The only agent module that changes the kernel. */
export class NftBackend implements FirewallBackend {
  constructor(
    private readonly nft: NftRunner,
    private readonly failsafe: Failsafe,
  ) {}

  async ensureTables(): Promise<boolean> {
    const intact = await this.bansTableIntact();
    if (!intact) await applyScript(this.nft, (await listTable(this.nft, FAMILY, BANS_TABLE)) ? replaceBansScript([]) : bansTableScript());
    // start the long-lived nft now (an empty script changes nothing), so the first ban does not wait for it
    await this.nft.transact?.("");
    return !intact;
  }

  async applyRuleset(ruleset: RulesetIR): Promise<Enforced> {
    const { script, expected } = render(ruleset, this.failsafe);
    await applyScript(this.nft, script);
    const listed = await listTable(this.nft, FAMILY, TABLE);
    const problems = compareReadback(expected, listed ? chainComments(listed) : {});
    if (ruleset.policies.length > 0 && !listed) problems.push("table is missing after apply");
    if (problems.length > 0) throw new ReadbackError(`read-back differs: ${problems.join("; ")}`);
    return { rulesetHash: sha256Hex(script), fingerprint: fingerprint(listed) };
  }

  /** @deprecated the old name of applyRuleset */
  apply(ruleset: RulesetIR): Promise<Enforced> {
    return this.applyRuleset(ruleset);
  }

  async fingerprint(): Promise<string> {
    return fingerprint(await listTable(this.nft, FAMILY, TABLE));
  }

  async bansTableIntact(): Promise<boolean> {
    const listed = await listTable(this.nft, FAMILY, BANS_TABLE);
    return !!listed && bansLayoutMatches(listed);
  }

  async applyBanOps(ops: readonly BanOp[]): Promise<void> {
    const script = renderBanOps(ops);
    try {
      if (this.nft.transact) await this.nft.transact(script);
      else await applyScript(this.nft, script);
    } catch (error) {
      if (error instanceof NftError) throw new BanOpsRefused(error.stderr || error.message, { cause: error });
      throw error;
    }
  }

  async replaceBans(elements: readonly BanElement[]): Promise<void> {
    await applyScript(this.nft, replaceBansScript(elements));
  }

  async hasElement(kind: BanSetKind, family: Family, element: string): Promise<boolean> {
    try {
      await this.nft.run(["get", "element", FAMILY, BANS_TABLE, setName(kind, family), `{ ${element} }`]);
      return true;
    } catch (error) {
      if (error instanceof NftError) return false;
      throw error;
    }
  }

  async listBans(): Promise<BansListing | undefined> {
    try {
      return parseBansListing(await this.nft.run(["-j", "list", "table", FAMILY, BANS_TABLE]));
    } catch (error) {
      if (error instanceof NftError && /No such file or directory/.test(error.stderr)) return undefined;
      throw error;
    }
  }

  async counters(ruleset: RulesetIR): Promise<Record<string, number>> {
    const audit = ruleset.policies.filter((p) => p.mode === "audit").map((p) => p.name);
    if (audit.length === 0) return {};
    const listed = (await listTable(this.nft, FAMILY, TABLE)) ?? [];
    const out: Record<string, number> = {};
    for (const o of listed) {
      const c = o.counter;
      if (!c) continue;
      const name = audit.find((p) => auditCounterName(p) === c.name);
      if (name) out[name] = Number(c.packets ?? 0);
    }
    return out;
  }

  /** @deprecated the old name of counters */
  auditCounts(ruleset: RulesetIR): Promise<Record<string, number>> {
    return this.counters(ruleset);
  }

  close(): void {
    this.nft.close?.();
  }
}

/** True when a listing of the bans table (no elements) has the sets and drop rules the agent makes. */
export function bansLayoutMatches(listed: readonly NftObject[]): boolean {
  const want = expectedBansLayout();
  const sets = listed.filter((o) => o.set).map((o) => String(o.set?.name)).sort();
  const rules = listed.filter((o) => o.rule).map((o) => String(o.rule?.comment ?? ""));
  return JSON.stringify(sets) === JSON.stringify(want.sets) && JSON.stringify(rules) === JSON.stringify(want.rules);
}
