import { matchesSelector, type BanDecision, type BanList, type FleetStatus, type HostBansRow, type HostRegistration, type HostReport } from "@fleetwall/api";
import { bansState, bansUnknownWhy, expectedByHost, type ExpectedBans } from "./ban-truth.js";
import type { CompileResult } from "./compile.js";
import type { Published } from "./publisher.js";
import type { PublishFailure } from "./publish-failures.js";

/** A host is stale once it has been silent for this many of its heartbeats. */
export const STALE_AFTER_HEARTBEATS = 3;
/** The heartbeat assumed for agents that do not report theirs (the agent's default). */
const DEFAULT_HEARTBEAT_MS = 10_000;

export interface StatusInput {
  hosts: ReadonlyMap<string, HostRegistration>;
  compiled: CompileResult;
  published: ReadonlyMap<string, Published>;
  reports: ReadonlyMap<string, HostReport>;
  /** When the controller received each host's last report (ms). */
  seen?: ReadonlyMap<string, number>;
  /** Policies that failed validation, by name, with their errors. */
  invalid: ReadonlyMap<string, string[]>;
  /** BanLists that failed validation, by name, with their errors. */
  invalidBanLists?: ReadonlyMap<string, string[]>;
  /** Hosts whose newest desired state is not published, and why. */
  unpublished?: ReadonlyMap<string, PublishFailure>;
  /** Lint warnings of valid policies, by name. */
  warnings: ReadonlyMap<string, string[]>;
  banLists?: readonly BanList[];
  /** How each BanList was last synced: refused entries, a failure. */
  banListOutcomes?: ReadonlyMap<string, { refused: readonly { cidr: string; reason: string }[]; error?: string }>;
  /** The decisions in the bans bucket, by key. */
  decisions?: ReadonlyMap<string, BanDecision>;
  /** Registered addresses not taken as their host's own, with why, by host (Protection.refusedAddresses). */
  refusedAddresses?: ReadonlyMap<string, readonly { address: string; reason: string }[]>;
  staleAfterHeartbeats?: number;
  now?: number;
}

/**
 * Whether a host missed `heartbeats` heartbeats since it was last heard of (`seenAt`: its last report,
 * or its registration as this controller saw it when no report came since, e.g. after a controller
 * restart); its own heartbeat when it reported one, the default otherwise. Pure.
 */
export function isStale(report: HostReport | undefined, seenAt: number | undefined, now: number, heartbeats = STALE_AFTER_HEARTBEATS): boolean {
  if (seenAt === undefined) return false;
  return now - seenAt > heartbeats * (report?.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
}

/** Aggregates registrations, compiled state and reports into the fleet status. Pure. */
export function fleetStatus(input: StatusInput): FleetStatus {
  const now = input.now ?? Date.now();
  const inSync = new Map<string, boolean>();
  const expected = expectedFor(input);
  const hosts = [...input.hosts.values()].sort((a, b) => (a.hostId < b.hostId ? -1 : 1)).map((reg) => hostRow(input, reg, now, expected));
  for (const h of hosts) inSync.set(h.id, h.inSync);
  const names = new Set([...input.compiled.selection.keys(), ...input.invalid.keys()]);
  const policies = [...names].sort().map((name) => {
    const selected = input.compiled.selection.get(name) ?? [];
    const errors = input.invalid.get(name);
    const unpublished = selected.filter((h) => input.unpublished?.has(h)).length;
    return {
      name,
      selectedHosts: selected.length,
      appliedHosts: selected.filter((h) => inSync.get(h)).length,
      // a host its newest state cannot reach has failed as surely as one that refused it
      failedHosts: selected.filter((h) => input.reports.get(h)?.state === "Failed" || input.unpublished?.has(h)).length,
      ...(unpublished ? { unpublishedHosts: unpublished } : {}),
      error: errors ? errors.join("; ") : null,
      warnings: input.warnings.get(name) ?? [],
    };
  });
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

/** One host's row: a stale host is not in sync, and its bans are not known. */
function hostRow(input: StatusInput, reg: HostRegistration, now: number, expected: ReadonlyMap<string, ExpectedBans>): FleetStatus["hosts"][number] {
  const report = input.reports.get(reg.hostId);
  const want = input.compiled.hosts.get(reg.hostId)?.hash;
  const stale = isStale(report, input.seen?.get(reg.hostId), now, input.staleAfterHeartbeats);
  const unpublished = input.unpublished?.get(reg.hostId);
  const synced = !stale && !unpublished && !!report && report.state === "Applied" && !!want && report.appliedHash === want;
  const refused = input.refusedAddresses?.get(reg.hostId);
  return {
    id: reg.hostId,
    labels: reg.labels,
    addresses: reg.addresses,
    ...(refused?.length ? { refusedAddresses: refused.map(({ address, reason }) => ({ address, reason })) } : {}),
    desiredRevision: input.published.get(reg.hostId)?.revision ?? 0,
    appliedRevision: report?.appliedRevision ?? 0,
    inSync: synced,
    lastSeen: report?.at ?? null,
    error: report?.error ?? null,
    auditDrops: report?.auditDrops ?? {},
    activeBans: report?.activeBans ?? 0,
    driftRepairs: report?.driftRepairs ?? 0,
    ...(report?.rulesetHash ? { rulesetHash: report.rulesetHash } : {}),
    stale,
    bans: stale ? "Unknown" : bansState(report, expected.get(reg.hostId)),
    ...unknownWhy(bansUnknownWhy(stale, report, expected.get(reg.hostId))),
    ...(unpublished ? { unpublished: unpublishedRow(unpublished) } : {}),
  };
}

const unknownWhy = (why: ReturnType<typeof bansUnknownWhy>) => (why ? { bansUnknown: why } : {});

/** Why a host's newest state is not published, as status shows it. */
function unpublishedRow({ hash: _, ...row }: PublishFailure): NonNullable<FleetStatus["hosts"][number]["unpublished"]> {
  return row;
}

/** Each host's bans as it reports them, against what it should hold at the same epoch. Pure. */
export function hostBans(input: StatusInput): HostBansRow[] {
  const now = input.now ?? Date.now();
  const expected = expectedFor(input);
  return [...input.hosts.values()]
    .sort((a, b) => (a.hostId < b.hostId ? -1 : 1))
    .map((reg) => {
      const report = input.reports.get(reg.hostId);
      const bans = report?.bans;
      const want = expected.get(reg.hostId);
      const stale = isStale(report, input.seen?.get(reg.hostId), now, input.staleAfterHeartbeats);
      return {
        id: reg.hostId,
        stale,
        state: stale ? "Unknown" : bansState(report, want),
        epoch: bans?.epoch ?? 0,
        count: bans?.count ?? 0,
        digest: bans?.digest ?? "",
        expectedCount: want?.count ?? 0,
        expectedDigest: want?.digest ?? "",
        refused: bans?.refused ?? [],
        refusedTotal: bans?.refusedTotal ?? 0,
        local: bans?.local ?? [],
        localTotal: bans?.localTotal ?? 0,
      };
    });
}

function expectedFor(input: StatusInput): Map<string, ExpectedBans> {
  const hosts = [...input.hosts.values()].map((h) => ({ id: h.hostId, labels: h.labels, epoch: input.reports.get(h.hostId)?.bans?.epoch }));
  return expectedByHost(hosts, input.decisions ?? new Map());
}
