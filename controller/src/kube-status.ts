import { canonicalJson, type Condition, type FleetStatus, type HostRegistration } from "@fleetwall/api";

/** What the controller writes into one object's `status` subresource. */
export type ObjectStatus = Record<string, unknown> & { conditions?: Condition[] };

/** Keys are `<plural>/<name>`. */
export type StatusMap = Map<string, ObjectStatus>;

export interface KubeStatusInput {
  fleet: FleetStatus;
  /** The generation of each policy and ban list the controller read (valid or not), by `<plural>/<name>`. */
  generations: ReadonlyMap<string, number>;
  /** The hosts each valid policy selects. */
  selection: ReadonlyMap<string, readonly string[]>;
  registrations: ReadonlyMap<string, HostRegistration>;
  /** What was last written, to keep transition times and an unchanged lastSeen. */
  previous: ReadonlyMap<string, ObjectStatus>;
  now: number;
}

/**
 * lastSeen moves on every heartbeat; writing it each time would be one API write per host and
 * heartbeat. It is refreshed when it is this old (or when anything else changes).
 */
export const LAST_SEEN_REFRESH_MS = 5 * 60_000;

/**
 * The status of every FirewallPolicy, BanList and FirewallHost, computed from the fleet status.
 * Pure: the same input gives the same output, so unchanged objects are never written.
 */
export function kubeStatuses(input: KubeStatusInput): StatusMap {
  const out: StatusMap = new Map();
  const iso = new Date(input.now).toISOString();
  const conditions = (key: string, generation: number | undefined, next: Omit<Condition, "lastTransitionTime" | "observedGeneration">[]): Condition[] => {
    const before = input.previous.get(key)?.conditions ?? [];
    return next.map((c) => {
      const old = before.find((b) => b.type === c.type);
      const same = old && old.status === c.status && old.reason === c.reason;
      return { ...c, lastTransitionTime: same ? old.lastTransitionTime : iso, ...(generation !== undefined ? { observedGeneration: generation } : {}) };
    });
  };
  const hostRows = new Map(input.fleet.hosts.map((h) => [h.id, h]));

  for (const p of input.fleet.policies) {
    const key = `firewallpolicies/${p.name}`;
    const generation = input.generations.get(key);
    const selected = input.selection.get(p.name) ?? [];
    const failing = selected.filter((h) => hostRows.get(h)?.error);
    const pending = selected.filter((h) => !hostRows.get(h)?.inSync);
    let conds: Omit<Condition, "lastTransitionTime" | "observedGeneration">[];
    if (p.error) {
      conds = [
        { type: "Ready", status: "False", reason: "Invalid", message: p.error },
        { type: "Stalled", status: "True", reason: "Invalid", message: p.error },
      ];
    } else {
      conds = [
        pending.length === 0
          ? { type: "Ready", status: "True", reason: "Applied", message: `applied on ${selected.length} of ${selected.length} selected hosts` }
          : { type: "Ready", status: "False", reason: failing.length ? "Degraded" : "Reconciling", message: `applied on ${selected.length - pending.length} of ${selected.length} selected hosts` },
        { type: "Reconciling", status: pending.length > failing.length ? "True" : "False", reason: pending.length > failing.length ? "Rollout" : "Done", message: pending.length > failing.length ? `waiting for ${pending.filter((h) => !failing.includes(h)).join(", ")}` : "" },
        { type: "Degraded", status: failing.length ? "True" : "False", reason: failing.length ? "HostsFailing" : "AsExpected", message: failing.map((h) => `${h}: ${hostRows.get(h)?.error ?? ""}`).join("; ") },
      ];
    }
    out.set(key, {
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      selectedHosts: p.selectedHosts,
      appliedHosts: p.appliedHosts,
      failedHosts: p.failedHosts,
      conditions: conditions(key, generation, conds),
    });
  }

  for (const l of input.fleet.banLists) {
    const key = `banlists/${l.name}`;
    const generation = input.generations.get(key);
    out.set(key, {
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      entries: l.entries,
      active: l.active,
      hostsEnforcing: l.hostsEnforcing,
      conditions: conditions(key, generation, banListConditions(l)),
    });
  }

  for (const h of input.fleet.hosts) {
    const key = `firewallhosts/${h.id}`;
    const reg = input.registrations.get(h.id);
    const before = input.previous.get(key);
    const beforeSeen = typeof before?.lastSeen === "string" ? Date.parse(before.lastSeen) : 0;
    const seen = h.lastSeen ? Date.parse(h.lastSeen) : 0;
    const lastSeen = h.lastSeen && seen - beforeSeen < LAST_SEEN_REFRESH_MS ? (before?.lastSeen as string | undefined) : (h.lastSeen ?? undefined);
    const conds: Omit<Condition, "lastTransitionTime" | "observedGeneration">[] = [
      { type: "Ready", status: h.lastSeen && !h.error ? "True" : "False", reason: h.error ? "Failed" : h.lastSeen ? "Reporting" : "NeverSeen", message: h.error ?? "" },
      { type: "InSync", status: h.inSync ? "True" : "False", reason: h.inSync ? "Applied" : "Pending", message: `desired revision ${h.desiredRevision}, applied ${h.appliedRevision}` },
      { type: "Degraded", status: h.error ? "True" : "False", reason: h.error ? "ApplyFailed" : "AsExpected", message: h.error ?? "" },
    ];
    const status: ObjectStatus = {
      ...(reg ? { addresses: reg.addresses, agentVersion: reg.agentVersion, nftVersion: reg.nftVersion } : {}),
      ...(lastSeen ? { lastSeen } : {}),
      desiredRevision: h.desiredRevision,
      appliedRevision: h.appliedRevision,
      ...(h.rulesetHash ? { rulesetHash: h.rulesetHash } : {}),
      activeBans: h.activeBans,
      driftRepairs: h.driftRepairs,
      conditions: conditions(key, undefined, conds),
    };
    // a fresher lastSeen alone is not worth a write; with any other change it goes along
    if (before && lastSeen !== h.lastSeen && h.lastSeen && canonicalJson({ ...status, lastSeen: undefined }) !== canonicalJson({ ...before, lastSeen: undefined })) {
      status.lastSeen = h.lastSeen;
    }
    out.set(key, status);
  }
  return out;
}

/**
 * Which statuses to write now: those that differ from what was last written, each object at most
 * once per `minIntervalMs`, at most `budget` objects per call. The rest wait for a later call.
 */
export function planStatusWrites(desired: ReadonlyMap<string, ObjectStatus>, written: ReadonlyMap<string, { status: ObjectStatus; at: number }>, now: number, minIntervalMs: number, budget: number): string[] {
  const due: string[] = [];
  for (const [key, status] of desired) {
    const w = written.get(key);
    if (w && (now - w.at < minIntervalMs || canonicalJson(w.status) === canonicalJson(status))) continue;
    due.push(key);
    if (due.length >= budget) break;
  }
  return due;
}

/** A BanList is Ready when every entry was published; otherwise the condition says which were refused and why. */
type Cond = { type: string; status: "True" | "False"; reason: string; message: string };

/** An invalid list stalls (its last valid version stays in force); otherwise Ready says how publishing went. */
function banListConditions(l: FleetStatus["banLists"][number]): Cond[] {
  if (l.invalid) {
    return [
      { type: "Ready", status: "False", reason: "Invalid", message: l.invalid },
      { type: "Stalled", status: "True", reason: "Invalid", message: l.invalid },
    ];
  }
  return [banListReady(l)];
}

function banListReady(l: FleetStatus["banLists"][number]): Cond {
  if (l.error) return { type: "Ready", status: "False", reason: "PublishFailed", message: l.error };
  const refused = l.refused ?? [];
  if (refused.length === 0) return { type: "Ready", status: "True", reason: "Published", message: `${l.active} of ${l.entries} entries in force` };
  const shown = refused.slice(0, 5).map((r) => `${r.cidr} (${r.reason})`).join(", ");
  return { type: "Ready", status: "False", reason: "EntriesRefused", message: `${refused.length} of ${l.entries} entries refused: ${shown}${refused.length > 5 ? ", …" : ""}` };
}
