import { describe, expect, it } from "vitest";
import type { FleetStatus, HostRegistration } from "@fleetwall/api";
import { LAST_SEEN_REFRESH_MS, kubeStatuses, planStatusWrites, type ObjectStatus } from "./kube-status.js";
import { WorkQueue } from "./work-queue.js";

const host = (id: string, over: Partial<FleetStatus["hosts"][number]> = {}): FleetStatus["hosts"][number] => ({
  id,
  labels: {},
  desiredRevision: 1,
  appliedRevision: 1,
  inSync: true,
  lastSeen: "2026-11-27T10:00:00.000Z",
  error: null,
  activeBans: 0,
  driftRepairs: 0,
  auditDrops: {},
  stale: false,
  bans: "Unknown",
  ...over,
});
const reg = (id: string): HostRegistration => ({ schemaVersion: 1, hostId: id, labels: {}, addresses: ["198.18.0.11"], agentVersion: "0.1.0", nftVersion: "1.0.6", startedAt: "2026-11-27T09:00:00.000Z" }) as HostRegistration;
const T0 = Date.parse("2026-11-27T10:00:00.000Z");

function statuses(fleet: FleetStatus, previous: Map<string, ObjectStatus> = new Map(), now = T0, generations = new Map<string, number>()) {
  return kubeStatuses({
    fleet,
    generations,
    selection: new Map(fleet.policies.map((p) => [p.name, fleet.hosts.map((h) => h.id)])),
    registrations: new Map(fleet.hosts.map((h) => [h.id, reg(h.id)])),
    previous,
    now,
  });
}

describe("resource statuses", () => {
  it.each([
    ["every entry published", {}, "True/Published", "1 of 2 entries in force"],
    ["an entry refused", { refused: [{ cidr: "198.18.0.11", reason: "a fleet host" }] }, "False/EntriesRefused", "1 of 2 entries refused: 198.18.0.11 (a fleet host)"],
    ["publishing failed", { error: "publish refused: maximum bytes exceeded" }, "False/PublishFailed", "publish refused: maximum bytes exceeded"],
  ] as [string, Partial<FleetStatus["banLists"][number]>, string, string][])("BanList Ready when %s", (_, over, want, message) => {
    const fleet: FleetStatus = { hosts: [], policies: [], banLists: [{ name: "l", type: "Deny", entries: 2, active: 1, hostsEnforcing: 0, ...over }] };
    const ready = statuses(fleet).get("banlists/l")?.conditions?.find((c) => c.type === "Ready");
    expect(`${ready?.status}/${ready?.reason}`).toBe(want);
    expect(ready?.message).toBe(message);
  });

  it.each([
    ["all applied", [host("a"), host("b")], null, { Ready: "True/Applied", Reconciling: "False/Done", Degraded: "False/AsExpected" }],
    ["no host selected", [], null, { Ready: "True/NoHostsSelected", Reconciling: "False/Done", Degraded: "False/AsExpected" }],
    ["one pending", [host("a"), host("b", { inSync: false, appliedRevision: 0 })], null, { Ready: "False/Reconciling", Reconciling: "True/Rollout", Degraded: "False/AsExpected" }],
    ["one failing", [host("a"), host("b", { inSync: false, error: "nft: syntax error" })], null, { Ready: "False/Degraded", Reconciling: "False/Done", Degraded: "True/HostsFailing" }],
    ["invalid", [host("a")], "spec.ingress[0].ports[0]: must be 1-65535", { Ready: "False/Invalid", Stalled: "True/Invalid" }],
    ["one's state too large to publish", [host("a"), host("b", { inSync: false, unpublished: { reason: "TooLarge", revision: 2, message: "revision 2 not published: desired state of 3500000 bytes (1100000 as sent, deflated) exceeds the bus's limit of 1048576 bytes per message" } })], null, { Ready: "False/NotPublished", Reconciling: "False/Done", Degraded: "True/HostsNotPublished" }],
  ] as const)("policy conditions when %s", (_, hosts, error, want) => {
    const fleet: FleetStatus = { hosts: [...hosts], policies: [{ name: "p", selectedHosts: hosts.length, appliedHosts: hosts.filter((h) => h.inSync).length, failedHosts: hosts.filter((h) => h.error).length, error, warnings: [] }], banLists: [] };
    const s = statuses(fleet, new Map(), T0, new Map([["firewallpolicies/p", 3]])).get("firewallpolicies/p");
    expect(Object.fromEntries((s?.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]))).toEqual(want);
    expect(s?.observedGeneration).toBe(3);
    expect(s?.conditions?.every((c) => c.observedGeneration === 3)).toBe(true);
    if (error) expect(s?.conditions?.[0]?.message).toContain("spec.ingress[0].ports[0]");
    if (hosts.some((h) => h.error)) expect(s?.conditions?.find((c) => c.type === "Degraded")?.message).toContain("b: nft: syntax error");
    if (hosts.some((h) => "unpublished" in h)) {
      expect(s?.conditions?.find((c) => c.type === "Ready")?.message).toBe("applied on 1 of 2 selected hosts; not published to 1: revision 2 not published: desired state of 3500000 bytes (1100000 as sent, deflated) exceeds the bus's limit of 1048576 bytes per message");
      expect(s?.conditions?.find((c) => c.type === "Degraded")?.message).toContain("b: revision 2 not published: desired state of 3500000 bytes");
    }
  });

  it("a host whose newest state is too large for the bus: InSync and Degraded say so, with the sizes and the limit", () => {
    const unpublished = { reason: "TooLarge" as const, revision: 3, textBytes: 3_500_000, wireBytes: 1_100_000, limit: 1_048_576, message: "revision 3 not published: desired state of 3500000 bytes (1100000 as sent, deflated) exceeds the bus's limit of 1048576 bytes per message" };
    const fleet: FleetStatus = { hosts: [host("a", { desiredRevision: 2, appliedRevision: 2, inSync: false, unpublished })], policies: [], banLists: [] };
    const conditions = statuses(fleet).get("firewallhosts/a")?.conditions ?? [];
    const byType = Object.fromEntries(conditions.map((c) => [c.type, c]));
    expect(byType.InSync).toMatchObject({ status: "False", reason: "DesiredTooLarge", message: `${unpublished.message}; the host keeps desired revision 2, applied 2` });
    expect(byType.Degraded).toMatchObject({ status: "True", reason: "DesiredTooLarge", message: unpublished.message });
    expect(byType.Ready).toMatchObject({ status: "True", reason: "Reporting" });
  });

  it.each([
    ["published", null, { Ready: "True/Published" }],
    ["invalid (a misspelt field the API server kept)", "spec.entries[0].resaon: unknown field (did you mean reason?)", { Ready: "False/Invalid", Stalled: "True/Invalid" }],
  ] as const)("ban list conditions when %s", (_, error, want) => {
    const fleet: FleetStatus = { hosts: [host("a")], policies: [], banLists: [{ name: "l", type: "Deny", entries: 2, active: 2, hostsEnforcing: 1, ...(error ? { invalid: error } : {}) }] };
    const s = statuses(fleet, new Map(), T0, new Map([["banlists/l", 4]])).get("banlists/l");
    expect(Object.fromEntries((s?.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]))).toEqual(want);
    expect(s?.observedGeneration).toBe(4);
    if (error) expect(s?.conditions?.[0]?.message).toBe(error);
  });

  it("a stale host's FirewallHost is neither Ready nor InSync, with reason Stale and when it was last seen", () => {
    const stale = host("a", { stale: true, inSync: false });
    const fleet: FleetStatus = { hosts: [stale, host("never", { stale: true, inSync: false, lastSeen: null })], policies: [], banLists: [] };
    const out = statuses(fleet);
    const conds = Object.fromEntries((out.get("firewallhosts/a")?.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}/${c.message}`]));
    expect(conds).toEqual({ Ready: "False/Stale/last seen at 2026-11-27T10:00:00.000Z", InSync: "False/Stale/last seen at 2026-11-27T10:00:00.000Z", Degraded: "False/AsExpected/", AddressesProtected: "True/AllOwn/" });
    expect(out.get("firewallhosts/never")?.conditions?.[0]).toMatchObject({ status: "False", reason: "Stale", message: "not heard from since it registered" });
    // the same host reporting again is Ready and InSync once more
    const back = statuses({ ...fleet, hosts: [host("a")] }, out, T0 + 5000).get("firewallhosts/a")?.conditions;
    expect(back?.slice(0, 2).map((c) => `${c.status}/${c.reason}`)).toEqual(["True/Reporting", "True/Applied"]);
  });

  it("a policy with a stale host is not Ready and is Degraded naming it; the host is not counted applied", () => {
    const hosts = [host("a"), host("b", { stale: true, inSync: false })];
    const fleet: FleetStatus = { hosts, policies: [{ name: "p", selectedHosts: 2, appliedHosts: 1, failedHosts: 0, error: null, warnings: [] }], banLists: [] };
    const s = statuses(fleet).get("firewallpolicies/p");
    expect(s?.appliedHosts).toBe(1);
    expect(Object.fromEntries((s?.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]))).toEqual({ Ready: "False/HostsStale", Reconciling: "False/Done", Degraded: "True/HostsStale" });
    expect(s?.conditions?.find((c) => c.type === "Degraded")?.message).toBe("b: stale, last seen at 2026-11-27T10:00:00.000Z");
    expect(s?.conditions?.find((c) => c.type === "Ready")?.message).toBe("applied on 1 of 2 selected hosts");
  });

  it("a FirewallHost whose registration names addresses that are not its own says so in AddressesProtected", () => {
    const refusedAddresses = [{ address: "203.0.113.7", reason: "outside the host networks (--host-networks): not protected" }];
    const out = statuses({ hosts: [host("a", { refusedAddresses }), host("b")], policies: [], banLists: [] });
    const cond = (key: string) => out.get(key)?.conditions?.find((c) => c.type === "AddressesProtected");
    expect(cond("firewallhosts/a")).toMatchObject({ status: "False", reason: "AddressesRefused", message: "203.0.113.7 (outside the host networks (--host-networks): not protected)" });
    expect(cond("firewallhosts/b")).toMatchObject({ status: "True", reason: "AllOwn" });
    // refusing an address does not make the host less Ready: it still enforces its state
    expect(out.get("firewallhosts/a")?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
  });

  it("keeps a condition's transition time while it holds, and moves it when it changes", () => {
    const fleet = (inSync: boolean): FleetStatus => ({ hosts: [host("a", { inSync })], policies: [{ name: "p", selectedHosts: 1, appliedHosts: inSync ? 1 : 0, failedHosts: 0, error: null, warnings: [] }], banLists: [] });
    const first = statuses(fleet(true));
    const same = statuses(fleet(true), first, T0 + 60_000);
    expect(same.get("firewallpolicies/p")).toEqual(first.get("firewallpolicies/p"));
    const changed = statuses(fleet(false), first, T0 + 60_000).get("firewallpolicies/p");
    expect(changed?.conditions?.find((c) => c.type === "Ready")?.lastTransitionTime).toBe(new Date(T0 + 60_000).toISOString());
  });

  it("1,000 heartbeating hosts cause no status writes once written, until lastSeen is due a refresh", () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `h${i}`);
    const written = new Map<string, { status: ObjectStatus; at: number }>();
    const said = new Map<string, ObjectStatus>();
    let writes = 0;
    const writesPerMinute: number[] = [];
    // ten minutes, a tick every 30 s, every host heartbeating in between
    for (let t = 0; t < 10 * 60_000; t += 30_000) {
      const now = T0 + t;
      const fleet: FleetStatus = { hosts: ids.map((id) => host(id, { lastSeen: new Date(now).toISOString() })), policies: [], banLists: [] };
      const desired = statuses(fleet, said, now);
      for (const key of planStatusWrites(desired, written, now, 2000, 10_000)) {
        written.set(key, { status: desired.get(key) as ObjectStatus, at: now });
        said.set(key, desired.get(key) as ObjectStatus);
        writes += 1;
      }
      if ((t + 30_000) % 60_000 === 0) writesPerMinute.push(writes - writesPerMinute.reduce((a, b) => a + b, 0));
    }
    // the first minute writes each host once; then only the lastSeen refresh every 5 minutes
    expect(writesPerMinute[0]).toBe(1000);
    expect(writesPerMinute.slice(1, 5)).toEqual([0, 0, 0, 0]);
    expect(Math.max(...writesPerMinute.slice(1))).toBe(1000);
    expect(writes).toBe(1000 * (1 + Math.floor((10 * 60_000 - 30_000) / LAST_SEEN_REFRESH_MS)));
  });

  it("writes each object at most once per interval and within the budget", () => {
    const desired = new Map([["a/1", { x: 1 }], ["a/2", { x: 2 }], ["a/3", { x: 3 }]]);
    const written = new Map([["a/1", { status: { x: 0 }, at: 1000 }]]);
    expect(planStatusWrites(desired, written, 1500, 2000, 10)).toEqual(["a/2", "a/3"]);
    expect(planStatusWrites(desired, written, 3000, 2000, 10)).toEqual(["a/1", "a/2", "a/3"]);
    expect(planStatusWrites(desired, written, 3000, 2000, 1)).toEqual(["a/1"]);
    expect(planStatusWrites(desired, new Map([...desired].map(([k, s]) => [k, { status: s, at: 0 }])), 10_000, 2000, 10)).toEqual([]);
  });
});

describe("the work queue", () => {
  it("de-duplicates keys, handles one at a time, and requeues a key added while it is handled", async () => {
    const seen: string[] = [];
    let active = 0;
    let maxActive = 0;
    let release: () => void = () => {};
    const q = new WorkQueue(async (key) => {
      active += 1;
      maxActive = Math.max(maxActive, active);
      seen.push(key);
      if (key === "a" && seen.length === 1) await new Promise<void>((r) => (release = r));
      active -= 1;
    }, () => {});
    q.add("a");
    q.add("a"); // handled now: queued again
    q.add("b");
    q.add("b"); // queued: once
    release();
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual(["a", "b", "a"]);
    expect(maxActive).toBe(1);
  });

  it("retries a failing key with backoff", async () => {
    let calls = 0;
    const errors: number[] = [];
    const q = new WorkQueue(async () => {
      calls += 1;
      if (calls < 3) throw new Error("transient");
    }, (_k, _e, retryInMs) => errors.push(retryInMs));
    q.add("k");
    await new Promise((r) => setTimeout(r, 800));
    expect(calls).toBe(3);
    expect(errors).toEqual([200, 400]);
    q.stop();
  });
});
