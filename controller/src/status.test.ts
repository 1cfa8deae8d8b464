import { describe, expect, it } from "vitest";
import { BanDigest, type BanDecision, type HostRegistration, type HostReport } from "@fleetwall/api";
import { expectedBans } from "./ban-truth.js";
import { fleetStatus, hostBans, isStale } from "./status.js";

const T0 = Date.parse("2026-12-01T00:00:00Z");
const reg = (id: string, labels: Record<string, string> = {}): HostRegistration => ({ schemaVersion: 1, hostId: id, labels, addresses: [], agentVersion: "t", nftVersion: "t", startedAt: "2026-12-01T00:00:00Z" });
const decision = (cidr: string, over: Partial<BanDecision> = {}): BanDecision => ({ schemaVersion: 1, list: "cli", type: "Deny", cidr, reason: "", scenario: "", origins: [], createdAt: "2026-12-01T00:00:00Z", expiresAt: null, offences: 1, source: "cli", ...over });
const report = (id: string, over: Partial<HostReport> = {}): HostReport => ({ schemaVersion: 1, hostId: id, at: new Date(T0).toISOString(), state: "Applied", desiredRevision: 1, appliedRevision: 1, appliedHash: "h", driftRepairs: 0, droppedMessages: 0, auditDrops: {}, activeBans: 0, heartbeatMs: 1000, ...over });
const digestOf = (entries: [string, "allow" | "deny", number][]) => {
  const d = new BanDigest();
  for (const [k, kind, exp] of entries) d.toggle(k, kind, exp, 1);
  return { count: d.count, digest: d.value };
};

describe("isStale", () => {
  it.each([
    ["neither registered nor reported here", undefined, undefined, false],
    ["registered 20 s ago, no report since", undefined, T0 - 20_000, false],
    ["registered 40 s ago, no report since (a controller restart, a dead host)", undefined, T0 - 40_000, true],
    ["reported 2.9 heartbeats ago", report("a"), T0 - 2900, false],
    ["reported 3.1 heartbeats ago", report("a"), T0 - 3100, true],
    ["an agent without heartbeatMs: 10 s assumed", report("a", { heartbeatMs: undefined }), T0 - 25_000, false],
  ] as const)("%s", (_, r, seen, stale) => {
    expect(isStale(r, seen, T0)).toBe(stale);
  });
});

describe("fleetStatus", () => {
  const decisions = new Map([["cli.10.0.0.1", decision("10.0.0.1")], ["cli.10.0.0.0_24", decision("10.0.0.0/24", { hostSelector: { matchLabels: { role: "db" } } })]]);
  const base = (reports: Map<string, HostReport>, seen: Map<string, number>) => ({
    hosts: new Map([["a", reg("a", { role: "web" })], ["b", reg("b", { role: "db" })]]),
    compiled: { hosts: new Map([["a", { hash: "h" }], ["b", { hash: "h" }]]), selection: new Map([["p", ["a", "b"]]]) },
    published: new Map(),
    reports,
    seen,
    invalid: new Map(),
    warnings: new Map(),
    decisions,
    now: T0,
  });

  it("marks a host stale, out of sync and out of its policies' applied count", () => {
    const s = fleetStatus(base(new Map([["a", report("a")], ["b", report("b")]]), new Map([["a", T0], ["b", T0 - 60_000]])) as never);
    expect(s.hosts.map((h) => [h.id, h.inSync, h.stale])).toEqual([["a", true, false], ["b", false, true]]);
    expect(s.policies[0]).toMatchObject({ selectedHosts: 2, appliedHosts: 1 });
  });

  it("compares each host's ban digest with its own decisions (selectors), at the epoch it reported", () => {
    const epoch = T0 - 30_000;
    const web = { epoch, loading: false, ...digestOf([["cli.10.0.0.1", "deny", 0]]), refused: [], refusedTotal: 0, local: [], localTotal: 0 };
    const dbWrong = { ...web }; // the db host should hold the /24 too
    const s = fleetStatus(base(new Map([["a", report("a", { bans: web })], ["b", report("b", { bans: dbWrong })]]), new Map([["a", T0], ["b", T0]])) as never);
    expect(s.hosts.map((h) => [h.id, h.bans])).toEqual([["a", "InSync"], ["b", "Differ"]]);
    const loading = fleetStatus(base(new Map([["a", report("a", { bans: { ...web, loading: true } })]]), new Map([["a", T0]])) as never);
    expect(loading.hosts[0]?.bans).toBe("Unknown");
    // and why: still reading the bans bucket, no bans in its report yet, or stale; nothing when known
    expect(loading.hosts[0]?.bansUnknown).toBe("Loading");
    expect(s.hosts.map((h) => h.bansUnknown)).toEqual([undefined, undefined]);
    const early = fleetStatus(base(new Map([["a", report("a")], ["b", report("b", { bans: web })]]), new Map([["a", T0], ["b", T0 - 60_000]])) as never);
    expect(early.hosts.map((h) => [h.id, h.bans, h.bansUnknown])).toEqual([["a", "Unknown", "NotReported"], ["b", "Unknown", "Stale"]]);
    const refused = { ...web, refused: [{ element: "10.0.0.1", error: "x" }], refusedTotal: 1 };
    const rows = hostBans(base(new Map([["a", report("a", { bans: refused })]]), new Map([["a", T0]])) as never);
    expect(rows[0]).toMatchObject({ id: "a", state: "Refused", count: 1, expectedCount: 1 });
    expect(rows[1]).toMatchObject({ id: "b", state: "Unknown", epoch: 0 });
  });
});

describe("expectedBans", () => {
  it("counts a decision held at the epoch when it has no expiry or expires after it, with its expiry in seconds", () => {
    const epoch = T0;
    const d = new Map([
      ["a.1", decision("10.0.0.1", { expiresAt: new Date(T0 + 1).toISOString() })],
      ["a.2", decision("10.0.0.2", { expiresAt: new Date(T0).toISOString() })],
      ["a.3", decision("10.0.0.3", { type: "Allow" })],
    ]);
    expect(expectedBans(d, {}, epoch)).toEqual(digestOf([["a.1", "deny", T0 / 1000 + 1], ["a.3", "allow", 0]]));
  });
});
