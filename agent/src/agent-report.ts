import { BUS_MESSAGE_BYTES, SCHEMA_VERSION, type HostReport } from "@fleetwall/api";
import type { Defender } from "./defender.js";

export interface ReportInput {
  hostId: string;
  at: Date;
  applied: { revision: number; hash: string; rulesetHash: string } | undefined;
  error: string | undefined;
  desiredRevision: number;
  driftRepairs: number;
  dropped: number;
  auditDrops: Record<string, number>;
  heartbeatMs: number;
  defender: Defender | undefined;
}

/** The report an agent publishes on change and as a heartbeat: its state, its counters and its bans. */
export function composeReport(r: ReportInput): HostReport {
  const a = r.applied;
  return {
    schemaVersion: SCHEMA_VERSION,
    hostId: r.hostId,
    at: r.at.toISOString(),
    state: r.error !== undefined ? "Failed" : a ? "Applied" : "Pending",
    desiredRevision: r.desiredRevision,
    appliedRevision: a?.revision ?? 0,
    ...(a ? { appliedHash: a.hash, rulesetHash: a.rulesetHash } : {}),
    ...(r.error ? { error: r.error } : {}),
    driftRepairs: r.driftRepairs,
    droppedMessages: r.dropped + (r.defender?.droppedDecisions ?? 0),
    auditDrops: r.auditDrops,
    activeBans: r.defender?.bans.activeBans ?? 0,
    heartbeatMs: r.heartbeatMs,
    ...(r.defender ? { bans: r.defender.bans.truth() } : {}),
  };
}

/** An error as one line for a report: nft's first lines of stderr after the message. */
export function describe(error: unknown): string {
  if (error instanceof Error) {
    const stderr = (error as { stderr?: string }).stderr;
    return stderr ? `${error.message}: ${stderr.split("\n").slice(0, 3).join(" ")}` : error.message;
  }
  return String(error);
}

/** Longest error text a report carries (nft's stderr can be long). */
const MAX_ERROR_CHARS = 2_000;

/**
 * A report as the JSON the agent publishes, within BUS_MESSAGE_BYTES.report (the controller drops
 * larger ones unread): the error and nft's refusals are shortened, then the list of local bans is
 * halved until it fits (`localTotal` still counts them all). Pure.
 */
export function reportText(report: HostReport, maxBytes: number = BUS_MESSAGE_BYTES.report): string {
  let text = JSON.stringify(report);
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const bans = report.bans;
  const short = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);
  let fitted: HostReport = {
    ...report,
    ...(report.error !== undefined ? { error: short(report.error, MAX_ERROR_CHARS) } : {}),
    ...(bans ? { bans: { ...bans, refused: bans.refused.map((r) => ({ element: short(r.element, 200), error: short(r.error, 200) })) } } : {}),
  };
  text = JSON.stringify(fitted);
  while (Buffer.byteLength(text) > maxBytes && fitted.bans && fitted.bans.local.length > 0) {
    fitted = { ...fitted, bans: { ...fitted.bans, local: fitted.bans.local.slice(0, Math.floor(fitted.bans.local.length / 2)) } };
    text = JSON.stringify(fitted);
  }
  return text;
}
