import type { BanDecision } from "./ban-messages.js";
import { SCHEMA_VERSION } from "./messages.js";

/** What a new decision needs; times in ms (null expiry: never). The rest has defaults. */
export interface NewDecision {
  list: string;
  type?: BanDecision["type"];
  cidr: string;
  reason?: string;
  scenario?: string;
  origins?: string[];
  createdAtMs: number;
  expiresAtMs: number | null;
  offences?: number;
  source: BanDecision["source"];
  hostSelector?: BanDecision["hostSelector"];
}

/** The one place a BanDecision is built. `issuedAt` is stamped by whoever signs it (replay protection). */
export function newDecision(d: NewDecision): BanDecision {
  return {
    schemaVersion: SCHEMA_VERSION,
    list: d.list,
    type: d.type ?? "Deny",
    cidr: d.cidr,
    reason: d.reason ?? "",
    scenario: d.scenario ?? "",
    origins: d.origins ?? [],
    createdAt: new Date(d.createdAtMs).toISOString(),
    expiresAt: d.expiresAtMs === null ? null : new Date(d.expiresAtMs).toISOString(),
    offences: d.offences ?? 1,
    source: d.source,
    ...(d.hostSelector ? { hostSelector: d.hostSelector } : {}),
  };
}

/**
 * A ban time escalated for repeat offences: `base × factor^(offences-1)`, never below `base`, never
 * above `cap` (rounded to whole seconds, at least 1). The one escalation formula, for jails and arbiter.
 */
export function escalatedSeconds(base: number, increment: { factor: number } | undefined, offences: number, cap: number): number {
  const raw = increment ? base * increment.factor ** Math.max(0, offences - 1) : base;
  return Math.max(1, Math.round(Math.min(cap, Math.max(base, raw))));
}


/** How much later than its signing a decision may be stored: clock skew and a bulk load's queue. */
export const REPLAY_TOLERANCE_MS = 120_000;

/**
 * Why a stored decision is a replay (an old envelope put back: a lifted or superseded ban), or
 * undefined. A controller signs a decision just before it stores it, so one stored much later than
 * its `issuedAt` was not stored by the controller that signed it then. Decisions without `issuedAt`
 * (older controllers) and entries whose storage time is unknown pass. Pure.
 */
export function replayedDecision(d: Pick<BanDecision, "issuedAt">, storedAtMs: number | undefined, toleranceMs = REPLAY_TOLERANCE_MS): string | undefined {
  if (storedAtMs === undefined || !d.issuedAt) return undefined;
  const issued = Date.parse(d.issuedAt);
  if (!Number.isFinite(issued)) return "issuedAt is not a time";
  const late = storedAtMs - issued;
  return late > toleranceMs ? `replayed: issued ${d.issuedAt}, stored ${Math.round(late / 1000)} s later` : undefined;
}
