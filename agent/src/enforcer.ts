import { sha256Hex, type RulesetIR } from "@fleetwall/api";
import { applyScript, listTable, type NftRunner } from "./nft.js";
import { chainComments, compareReadback, fingerprint } from "./readback.js";
import { FAMILY, TABLE, auditCounterName, render, type Failsafe } from "./render.js";

export class ReadbackError extends Error {
  override name = "ReadbackError";
}

export interface Enforced {
  rulesetHash: string;
  fingerprint: string;
}

/** Renders, applies atomically, reads back. The only agent module that changes the kernel. */
export class Enforcer {
  constructor(
    private readonly nft: NftRunner,
    private readonly failsafe: Failsafe,
  ) {}

  async apply(ruleset: RulesetIR): Promise<Enforced> {
    const { script, expected } = render(ruleset, this.failsafe);
    await applyScript(this.nft, script);
    const listed = await listTable(this.nft, FAMILY, TABLE);
    const problems = compareReadback(expected, listed ? chainComments(listed) : {});
    if (ruleset.policies.length > 0 && !listed) problems.push("table is missing after apply");
    if (problems.length > 0) throw new ReadbackError(`read-back differs: ${problems.join("; ")}`);
    return { rulesetHash: sha256Hex(script), fingerprint: fingerprint(listed) };
  }

  /** The current fingerprint of the table, to compare with the one taken after apply. */
  async fingerprint(): Promise<string> {
    return fingerprint(await listTable(this.nft, FAMILY, TABLE));
  }

  /** Packets counted by each audit policy's would-drop counter. */
  async auditCounts(ruleset: RulesetIR): Promise<Record<string, number>> {
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
}
