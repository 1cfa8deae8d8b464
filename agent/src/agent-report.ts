import { SCHEMA_VERSION, type HostReport } from "@fleetwall/api";
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
