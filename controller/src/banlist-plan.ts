import { banKey, canonicalJson, newDecision, parseCidr, parseDuration, type BanDecision, type BanList } from "@fleetwall/api";
import type { BanPlan, ProtectionCheck } from "./ban-plan.js";

/** When an entry stops holding (ms; null: never); a `duration` counts from when the controller first published it. */
function expiryMs(entry: BanList["spec"]["entries"][number], createdAtMs: number): number | null {
  if (entry.expires) return Date.parse(entry.expires);
  if (entry.duration) return createdAtMs + (parseDuration(entry.duration) as number) * 1000;
  return null;
}

/**
 * What the bans bucket must change so that it holds exactly the BanLists' live entries. Pure.
 * A Deny entry that touches a protected address is refused, never published; the refusal names its list.
 */
export function planBanLists(lists: readonly BanList[], current: ReadonlyMap<string, BanDecision>, isProtected: ProtectionCheck, nowMs: number): BanPlan {
  const plan: BanPlan = { puts: [], deletes: [], refusals: [] };
  const wanted = new Set<string>();
  for (const list of lists) {
    const name = list.metadata.name;
    for (const entry of list.spec.entries) {
      const cidr = parseCidr(entry.cidr);
      const key = banKey(name, cidr.text);
      const existing = current.get(key);
      const createdAtMs = existing?.source === "BanList" ? Date.parse(existing.createdAt) : nowMs;
      const expiresAtMs = expiryMs(entry, createdAtMs);
      if (expiresAtMs !== null && expiresAtMs <= nowMs) continue;
      const why = list.spec.type === "Deny" ? isProtected(cidr) : undefined;
      if (why) {
        plan.refusals.push({ list: name, cidr: cidr.text, reason: why });
        continue;
      }
      wanted.add(key);
      const decision = newDecision({ list: name, type: list.spec.type, cidr: cidr.text, reason: entry.reason ?? "", createdAtMs, expiresAtMs, source: "BanList", ...(list.spec.hostSelector ? { hostSelector: list.spec.hostSelector } : {}) });
      if (!existing || !sameDecision(existing, decision)) plan.puts.push(decision);
    }
  }
  for (const [key, d] of current) if (d.source === "BanList" && !wanted.has(key)) plan.deletes.push(key);
  plan.bulk = plan.puts.length > 16;
  return plan;
}

/** Equal but for when each was signed. */
function sameDecision(a: BanDecision, b: BanDecision): boolean {
  const { issuedAt: _a, ...x } = a;
  const { issuedAt: _b, ...y } = b;
  return canonicalJson(x) === canonicalJson(y);
}
