import { banKey, canonicalJson, MAX_DURATION_SECONDS, MAX_DURATION_TEXT, newDecision, parseCidr, parseDuration, type BanDecision, type BanList } from "@fleetwall/api";
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
      let cidr: ReturnType<typeof parseCidr>;
      try {
        cidr = parseCidr(entry.cidr);
      } catch {
        plan.refusals.push({ list: name, cidr: entry.cidr, reason: "not an address or CIDR" });
        continue;
      }
      const key = banKey(name, cidr.text);
      const existing = current.get(key);
      const createdAtMs = existing?.source === "BanList" ? Date.parse(existing.createdAt) : nowMs;
      const expiresAtMs = expiryMs(entry, Number.isFinite(createdAtMs) ? createdAtMs : nowMs);
      // one bad entry is refused on its own list; it never stops the other lists' publishing
      const tooLong = lifetimeProblem(expiresAtMs, nowMs);
      if (tooLong) {
        plan.refusals.push({ list: name, cidr: cidr.text, reason: tooLong });
        continue;
      }
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

/** Why an entry's expiry cannot be published (not a time, or beyond the 10-year limit), or undefined. */
function lifetimeProblem(expiresAtMs: number | null, nowMs: number): string | undefined {
  if (expiresAtMs === null) return undefined;
  if (!Number.isFinite(expiresAtMs) || Math.abs(expiresAtMs) > 8.64e15) return "expires: not a representable time";
  if (expiresAtMs - nowMs > MAX_DURATION_SECONDS * 1000) return `expires: more than ${MAX_DURATION_TEXT} ahead, the longest a BanList entry may hold`;
  return undefined;
}

/** Equal but for when each was signed. */
function sameDecision(a: BanDecision, b: BanDecision): boolean {
  const { issuedAt: _a, ...x } = a;
  const { issuedAt: _b, ...y } = b;
  return canonicalJson(x) === canonicalJson(y);
}
