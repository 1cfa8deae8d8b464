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

type HostRow = FleetStatus["hosts"][number];
/** A condition as computed, before its transition time and generation are stamped. */
type Cond = Omit<Condition, "lastTransitionTime" | "observedGeneration">;
/** Stamps computed conditions of one object: transition time kept while a condition holds. */
type Stamp = (key: string, generation: number | undefined, next: Cond[]) => Condition[];

/**
 * The status of every FirewallPolicy, BanList and FirewallHost, computed from the fleet status.
 * Pure: the same input gives the same output, so unchanged objects are never written.
 */
export function kubeStatuses(input: KubeStatusInput): StatusMap {
  const out: StatusMap = new Map();
  const stamp = stamper(input.previous, new Date(input.now).toISOString());
  const hostRows = new Map(input.fleet.hosts.map((h) => [h.id, h]));
  for (const p of input.fleet.policies) {
    const key = `firewallpolicies/${p.name}`;
    out.set(key, policyStatus(p, input.generations.get(key), input.selection.get(p.name) ?? [], hostRows, (g, c) => stamp(key, g, c)));
  }
  for (const l of input.fleet.banLists) {
    const key = `banlists/${l.name}`;
    const generation = input.generations.get(key);
    out.set(key, {
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
      entries: l.entries,
      active: l.active,
      hostsEnforcing: l.hostsEnforcing,
      conditions: stamp(key, generation, banListConditions(l)),
    });
  }
  for (const h of input.fleet.hosts) {
    const key = `firewallhosts/${h.id}`;
    out.set(key, hostStatus(h, input.registrations.get(h.id), input.previous.get(key), (c) => stamp(key, undefined, c)));
  }
  return out;
}

/** Stamps conditions with a transition time: the previous one while status and reason hold, `iso` when they change. */
function stamper(previous: ReadonlyMap<string, ObjectStatus>, iso: string): Stamp {
  return (key, generation, next) => {
    const before = previous.get(key)?.conditions ?? [];
    return next.map((c) => {
      const old = before.find((b) => b.type === c.type);
      const same = old && old.status === c.status && old.reason === c.reason;
      return { ...c, lastTransitionTime: same ? old.lastTransitionTime : iso, ...(generation !== undefined ? { observedGeneration: generation } : {}) };
    });
  };
}

/** A policy's status: its counts (a stale host is not counted as applied) and Ready, Reconciling, Degraded. */
function policyStatus(p: FleetStatus["policies"][number], generation: number | undefined, selected: readonly string[], hostRows: ReadonlyMap<string, HostRow>, stamp: (generation: number | undefined, next: Cond[]) => Condition[]): ObjectStatus {
  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    selectedHosts: p.selectedHosts,
    appliedHosts: p.appliedHosts,
    failedHosts: p.failedHosts,
    conditions: stamp(generation, p.error ? invalidConditions(p.error) : policyConditions(selected, hostRows)),
  };
}

function invalidConditions(error: string): Cond[] {
  return [
    { type: "Ready", status: "False", reason: "Invalid", message: error },
    { type: "Stalled", status: "True", reason: "Invalid", message: error },
  ];
}

/**
 * A valid policy's conditions from its selected hosts: failing (an apply error, or a desired state
 * that could not be published to them) and stale (silent for several heartbeats) hosts degrade it;
 * the others not in sync are still rolling out.
 */
function policyConditions(selected: readonly string[], hostRows: ReadonlyMap<string, HostRow>): Cond[] {
  const unpublished = selected.filter((h) => hostRows.get(h)?.unpublished);
  const failing = selected.filter((h) => hostRows.get(h)?.error || hostRows.get(h)?.unpublished);
  const stale = selected.filter((h) => hostRows.get(h)?.stale && !failing.includes(h));
  const pending = selected.filter((h) => !hostRows.get(h)?.inSync);
  const rolling = pending.filter((h) => !failing.includes(h) && !stale.includes(h));
  const applied = selected.length - pending.length;
  const degraded = [...failing.map((h) => `${h}: ${hostRows.get(h)?.unpublished?.message ?? hostRows.get(h)?.error ?? ""}`), ...stale.map((h) => `${h}: stale, ${lastSeenText(hostRows.get(h))}`)];
  return [
    selected.length === 0
      ? { type: "Ready", status: "True", reason: "NoHostsSelected", message: "its hostSelector matches no registered host" }
      : pending.length === 0
      ? { type: "Ready", status: "True", reason: "Applied", message: `applied on ${selected.length} of ${selected.length} selected hosts` }
      : { type: "Ready", status: "False", reason: unpublished.length ? "NotPublished" : failing.length ? "Degraded" : stale.length ? "HostsStale" : "Reconciling", message: `applied on ${applied} of ${selected.length} selected hosts${unpublished.length ? `; not published to ${unpublished.length}: ${hostRows.get(unpublished[0] as string)?.unpublished?.message ?? ""}` : ""}` },
    { type: "Reconciling", status: rolling.length ? "True" : "False", reason: rolling.length ? "Rollout" : "Done", message: rolling.length ? `waiting for ${rolling.join(", ")}` : "" },
    { type: "Degraded", status: degraded.length ? "True" : "False", reason: unpublished.length ? "HostsNotPublished" : failing.length ? "HostsFailing" : stale.length ? "HostsStale" : "AsExpected", message: degraded.join("; ") },
  ];
}

const lastSeenText = (h: HostRow | undefined) => (h?.lastSeen ? `last seen at ${h.lastSeen}` : "not heard from since it registered");

/**
 * A FirewallHost's status. A stale host (silent for several heartbeats) is neither Ready nor InSync,
 * with reason Stale and when it was last seen: what it last reported is no longer known to hold.
 */
function hostStatus(h: HostRow, reg: HostRegistration | undefined, before: ObjectStatus | undefined, stamp: (next: Cond[]) => Condition[]): ObjectStatus {
  const beforeSeen = typeof before?.lastSeen === "string" ? Date.parse(before.lastSeen) : 0;
  const seen = h.lastSeen ? Date.parse(h.lastSeen) : 0;
  const lastSeen = h.lastSeen && seen - beforeSeen < LAST_SEEN_REFRESH_MS ? (before?.lastSeen as string | undefined) : (h.lastSeen ?? undefined);
  const status: ObjectStatus = {
    ...(reg ? { addresses: reg.addresses, agentVersion: reg.agentVersion, nftVersion: reg.nftVersion } : {}),
    ...(lastSeen ? { lastSeen } : {}),
    desiredRevision: h.desiredRevision,
    appliedRevision: h.appliedRevision,
    ...(h.rulesetHash ? { rulesetHash: h.rulesetHash } : {}),
    activeBans: h.activeBans,
    driftRepairs: h.driftRepairs,
    conditions: stamp(hostConditions(h)),
  };
  // a fresher lastSeen alone is not worth a write; with any other change it goes along
  if (before && lastSeen !== h.lastSeen && h.lastSeen && canonicalJson({ ...status, lastSeen: undefined }) !== canonicalJson({ ...before, lastSeen: undefined })) {
    status.lastSeen = h.lastSeen;
  }
  return status;
}

/** Whether every address the host registered is taken as its own (and so protected fleet-wide). */
function addressesCondition(h: HostRow): Cond {
  const refused = h.refusedAddresses ?? [];
  if (!refused.length) return { type: "AddressesProtected", status: "True", reason: "AllOwn", message: "" };
  return { type: "AddressesProtected", status: "False", reason: "AddressesRefused", message: refused.map((r) => `${r.address} (${r.reason})`).join("; ") };
}

function hostConditions(h: HostRow): Cond[] {
  return [...readyConditions(h), addressesCondition(h)];
}

function readyConditions(h: HostRow): Cond[] {
  const degraded: Cond = h.unpublished
    ? { type: "Degraded", status: "True", reason: h.unpublished.reason === "TooLarge" ? "DesiredTooLarge" : "PublishFailed", message: h.unpublished.message }
    : { type: "Degraded", status: h.error ? "True" : "False", reason: h.error ? "ApplyFailed" : "AsExpected", message: h.error ?? "" };
  if (h.stale) {
    const message = lastSeenText(h);
    return [{ type: "Ready", status: "False", reason: "Stale", message }, { type: "InSync", status: "False", reason: "Stale", message }, degraded];
  }
  return [
    { type: "Ready", status: h.lastSeen && !h.error ? "True" : "False", reason: h.error ? "Failed" : h.lastSeen ? "Reporting" : "NeverSeen", message: h.error ?? "" },
    h.unpublished
      ? { type: "InSync", status: "False", reason: degraded.reason, message: `${h.unpublished.message}; the host keeps desired revision ${h.desiredRevision}, applied ${h.appliedRevision}` }
      : { type: "InSync", status: h.inSync ? "True" : "False", reason: h.inSync ? "Applied" : "Pending", message: `desired revision ${h.desiredRevision}, applied ${h.appliedRevision}` },
    degraded,
  ];
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

/** A BanList is Ready when every entry was published; otherwise the condition says which were refused and why. */
function banListReady(l: FleetStatus["banLists"][number]): Cond {
  if (l.error) return { type: "Ready", status: "False", reason: "PublishFailed", message: l.error };
  const refused = l.refused ?? [];
  if (refused.length === 0) return { type: "Ready", status: "True", reason: "Published", message: `${l.active} of ${l.entries} entries in force` };
  const shown = refused.slice(0, 5).map((r) => `${r.cidr} (${r.reason})`).join(", ");
  return { type: "Ready", status: "False", reason: "EntriesRefused", message: `${refused.length} of ${l.entries} entries refused: ${shown}${refused.length > 5 ? ", …" : ""}` };
}
