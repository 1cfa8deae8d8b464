import { FleetStatus, type HostRegistration } from "@fleetwall/api";
import { kubeStatuses, type StatusMap } from "@fleetwall/controller";

/**
 * What the controller writes into the status of each kind, with every field it can set: a policy
 * applied and one invalid, a ban list, a host in sync (registered, reporting a ruleset) and a failing
 * one. Computed by the controller's own `kubeStatuses`, so a field added there is covered here.
 */
export function everyStatus(now = Date.parse("2026-12-05T10:00:00.000Z")): StatusMap {
  const seen = new Date(now - 1_000).toISOString();
  const fleet = FleetStatus.parse({
    hosts: [
      { id: "h-ok", labels: { role: "web" }, desiredRevision: 3, appliedRevision: 3, inSync: true, lastSeen: seen, error: null, activeBans: 12, driftRepairs: 1, rulesetHash: "a".repeat(64), auditDrops: { open: 2 } },
      { id: "h-failing", labels: { role: "db" }, desiredRevision: 4, appliedRevision: 2, inSync: false, lastSeen: seen, error: "nft: syntax error", activeBans: 0, driftRepairs: 0 },
    ],
    policies: [
      { name: "open", selectedHosts: 2, appliedHosts: 1, failedHosts: 1 },
      { name: "broken", selectedHosts: 0, appliedHosts: 0, failedHosts: 0, error: "spec.defaultinput: unknown field (did you mean defaultInput?)" },
    ],
    banLists: [
      { name: "blocked", type: "Deny", entries: 3, active: 2, hostsEnforcing: 1 },
      { name: "typo", type: "Deny", entries: 0, active: 0, hostsEnforcing: 0, invalid: "spec.entries[0].resaon: unknown field (did you mean reason?)" },
    ],
  });
  const registration = (hostId: string): HostRegistration =>
    ({ schemaVersion: 1, hostId, labels: {}, addresses: ["198.18.0.11", "2001:db8::11"], agentVersion: "0.1.0", nftVersion: "1.0.6", startedAt: seen }) as HostRegistration;
  return kubeStatuses({
    fleet,
    generations: new Map([["firewallpolicies/open", 2], ["firewallpolicies/broken", 5], ["banlists/blocked", 3], ["banlists/typo", 2]]),
    selection: new Map([["open", ["h-ok", "h-failing"]], ["broken", []]]),
    registrations: new Map(["h-ok", "h-failing"].map((h) => [h, registration(h)])),
    previous: new Map(),
    now,
  });
}
