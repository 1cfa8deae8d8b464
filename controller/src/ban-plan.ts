import { banKey, cidrProblem, newDecision, parseCidr, sealKey, type BanAddRequest, type BanDecision, type BanImportRequest, type Cidr } from "@fleetwall/api";
import type { z } from "zod";

/** An entry that was not published, and why. */
export interface Refusal {
  cidr: string;
  reason: string;
  /** The BanList it came from, for list syncs. */
  list?: string;
}

/**
 * What the bans bucket must change: decisions to put, keys to delete, and what was refused with
 * why. Planners are pure; the publisher executes plans. `bulk` puts travel under seals.
 */
export interface BanPlan {
  puts: BanDecision[];
  deletes: string[];
  refusals: Refusal[];
  bulk?: boolean;
}

/** Why a CIDR must not be banned by an operator, or undefined. */
export type ProtectionCheck = (cidr: Cidr) => string | undefined;

/** How long an expired jail decision is kept, so that a returning offender is escalated. */
export const MEMORY_MS = 7 * 86400_000;
/** A seal younger than this may belong to a batch still being published. */
export const SEAL_GRACE_MS = 60_000;

function parsed(text: string): Cidr | undefined {
  try {
    return parseCidr(text);
  } catch {
    return undefined;
  }
}

/** Why an operator's CIDR is refused before any protection check: unparsable, host bits set, IPv4-mapped. */
function textProblem(text: string, cidr: Cidr | undefined): string | undefined {
  return cidr ? cidrProblem(text) : "not an address or CIDR";
}

const expiryOf = (nowMs: number, seconds: number | null) => (seconds ? nowMs + seconds * 1000 : null);

/** `fleetwall bans add`: one operator decision, or a refusal. */
export function planAdd(req: z.infer<typeof BanAddRequest>, isProtected: ProtectionCheck, nowMs: number): BanPlan {
  const cidr = parsed(req.cidr);
  const bad = textProblem(req.cidr, cidr);
  if (bad || !cidr) return { puts: [], deletes: [], refusals: [{ cidr: req.cidr, reason: bad ?? "not an address or CIDR" }] };
  const why = isProtected(cidr);
  if (why) return { puts: [], deletes: [], refusals: [{ cidr: cidr.text, reason: why }] };
  const d = newDecision({ list: "cli", cidr: cidr.text, reason: req.reason, scenario: "manual", createdAtMs: nowMs, expiresAtMs: expiryOf(nowMs, req.durationSeconds), source: "cli" });
  return { puts: [d], deletes: [], refusals: [] };
}

/** One chunk of `fleetwall bans import`: every entry checked like a manual ban; published under seals. */
export function planImport(req: z.infer<typeof BanImportRequest>, isProtected: ProtectionCheck, nowMs: number): BanPlan {
  const plan: BanPlan = { puts: [], deletes: [], refusals: [], bulk: true };
  const expiresAtMs = expiryOf(nowMs, req.durationSeconds);
  for (const text of req.entries) {
    const cidr = parsed(text);
    const bad = textProblem(text, cidr);
    const why = bad ?? (cidr ? isProtected(cidr) : undefined);
    if (why || !cidr) {
      plan.refusals.push({ cidr: bad || !cidr ? text : cidr.text, reason: why ?? "not an address or CIDR" });
      continue;
    }
    plan.puts.push(newDecision({ list: req.list, cidr: cidr.text, reason: req.reason, scenario: "import", createdAtMs: nowMs, expiresAtMs, source: "cli" }));
  }
  return plan;
}

/** Lifts every Deny decision for exactly this address or CIDR, whatever made it (BanList entries come back on the next sync). */
export function planDelete(cidrText: string, current: ReadonlyMap<string, BanDecision>): BanPlan {
  const cidr = parsed(cidrText);
  if (!cidr) return { puts: [], deletes: [], refusals: [{ cidr: cidrText, reason: "not an address or CIDR" }] };
  const deletes = [...current.entries()].filter(([, d]) => d.type === "Deny" && d.cidr === cidr.text).map(([k]) => k);
  return { puts: [], deletes, refusals: deletes.length ? [] : [{ cidr: cidr.text, reason: `no ban for ${cidr.text}` }] };
}

/**
 * Decisions that expired (at once for operators' and lists' ones, after MEMORY_MS for jails', whose
 * offences escalate a returning offender), and seals no decision uses any more.
 */
export function planExpiry(current: ReadonlyMap<string, BanDecision>, seals: ReadonlyMap<string, number>, sealOf: ReadonlyMap<string, string>, nowMs: number): BanPlan {
  const deletes: string[] = [];
  const used = new Set(sealOf.values());
  for (const [id, seen] of seals) if (!used.has(id) && nowMs - seen >= SEAL_GRACE_MS) deletes.push(sealKey(id));
  for (const [key, d] of current) {
    if (d.expiresAt && nowMs - Date.parse(d.expiresAt) > (d.source === "jail" ? MEMORY_MS : 0)) deletes.push(key);
  }
  return { puts: [], deletes, refusals: [] };
}

export const keyOf = (d: BanDecision): string => banKey(d.list, d.cidr);
