import { matchesSelector, type BanDecision, type BanList, type FleetStatus, type HostRegistration, type HostReport } from "@fleetwall/api";
import type { CompileResult } from "./compile.js";
import type { Published } from "./publisher.js";

export interface StatusInput {
  hosts: ReadonlyMap<string, HostRegistration>;
  compiled: CompileResult;
  published: ReadonlyMap<string, Published>;
  reports: ReadonlyMap<string, HostReport>;
  /** Policies that failed validation, by name, with their errors. */
  invalid: ReadonlyMap<string, string[]>;
  /** BanLists that failed validation, by name, with their errors. */
  invalidBanLists?: ReadonlyMap<string, string[]>;
  /** Lint warnings of valid policies, by name. */
  warnings: ReadonlyMap<string, string[]>;
  banLists?: readonly BanList[];
  /** How each BanList was last synced: refused entries, a failure. */
  banListOutcomes?: ReadonlyMap<string, { refused: readonly { cidr: string; reason: string }[]; error?: string }>;
  /** The decisions in the bans bucket, by key. */
  decisions?: ReadonlyMap<string, BanDecision>;
  now?: number;
}

/** Aggregates registrations, compiled state and reports into the fleet status. Pure. */
export function fleetStatus(input: StatusInput): FleetStatus {
  const inSync = new Map<string, boolean>();
  const hosts = [...input.hosts.values()]
    .sort((a, b) => (a.hostId < b.hostId ? -1 : 1))
    .map((reg) => {
      const report = input.reports.get(reg.hostId);
      const want = input.compiled.hosts.get(reg.hostId)?.hash;
      const synced = !!report && report.state === "Applied" && !!want && report.appliedHash === want;
      inSync.set(reg.hostId, synced);
      return {
        id: reg.hostId,
        labels: reg.labels,
        desiredRevision: input.published.get(reg.hostId)?.revision ?? 0,
        appliedRevision: report?.appliedRevision ?? 0,
        inSync: synced,
        lastSeen: report?.at ?? null,
        error: report?.error ?? null,
        auditDrops: report?.auditDrops ?? {},
        activeBans: report?.activeBans ?? 0,
        driftRepairs: report?.driftRepairs ?? 0,
        ...(report?.rulesetHash ? { rulesetHash: report.rulesetHash } : {}),
      };
    });
  const names = new Set([...input.compiled.selection.keys(), ...input.invalid.keys()]);
  const policies = [...names].sort().map((name) => {
    const selected = input.compiled.selection.get(name) ?? [];
    const errors = input.invalid.get(name);
    return {
      name,
      selectedHosts: selected.length,
      appliedHosts: selected.filter((h) => inSync.get(h)).length,
      failedHosts: selected.filter((h) => input.reports.get(h)?.state === "Failed").length,
      error: errors ? errors.join("; ") : null,
      warnings: input.warnings.get(name) ?? [],
    };
  });
  const now = input.now ?? Date.now();
  const live = new Map<string, number>();
  for (const d of input.decisions?.values() ?? []) {
    if (d.source === "BanList" && (!d.expiresAt || Date.parse(d.expiresAt) > now)) live.set(d.list, (live.get(d.list) ?? 0) + 1);
  }
  const invalidLists = input.invalidBanLists ?? new Map<string, string[]>();
  const valid = new Map((input.banLists ?? []).map((l) => [l.metadata.name, l]));
  // a list whose current version is invalid is listed too, with why (and its last valid version's counts, if any)
  const banLists = [...new Set([...valid.keys(), ...invalidLists.keys()])].sort().map((name) => {
    const l = valid.get(name);
    const errors = invalidLists.get(name);
    const outcome = input.banListOutcomes?.get(name);
    return {
      name,
      type: l?.spec.type ?? "Deny",
      entries: l?.spec.entries.length ?? 0,
      active: live.get(name) ?? 0,
      hostsEnforcing: l ? [...input.hosts.values()].filter((h) => inSync.get(h.hostId) && matchesSelector(l.spec.hostSelector, h.labels)).length : 0,
      ...(outcome?.refused.length ? { refused: outcome.refused.map(({ cidr, reason }) => ({ cidr, reason })) } : {}),
      ...(outcome?.error ? { error: outcome.error } : {}),
      ...(errors ? { invalid: errors.join("; ") } : {}),
    };
  });
  return { hosts, policies, banLists };
}
