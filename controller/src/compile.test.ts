import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FirewallPolicy, type FirewallPolicyInput } from "@fleetwall/api";
import { compile, compilePolicy, mergeRanges, precompile, splitCidrs, type HostInfo } from "./compile.js";

function policy(name: string, spec: Partial<FirewallPolicyInput["spec"]>): FirewallPolicy {
  return FirewallPolicy.parse({ apiVersion: "fleetwall.io/v1alpha1", kind: "FirewallPolicy", metadata: { name }, spec: { hostSelector: {}, ...spec } });
}

const web = policy("web", {
  hostSelector: { matchLabels: { role: "web" } },
  order: 100,
  ingress: [
    { name: "ssh", action: "Allow", protocol: "tcp", ports: ["ssh"] },
    { name: "web", action: "Allow", protocol: "tcp", ports: [443, 80, "8000-8100", 8080] },
    { name: "mon", action: "Allow", protocol: "tcp", ports: [9100], sources: ["198.18.0.0/24", "198.18.0.7", "2001:db8::/64"] },
  ],
});
const base = policy("base", { order: 10, defaultInput: "Reject", icmp: "Ping" });
const audit = policy("audit", { order: 5, mode: "Audit", defaultInput: "Drop", defaultOutput: "Drop" });
const hosts: HostInfo[] = [
  { id: "web-1", labels: { role: "web" } },
  { id: "db-1", labels: { role: "db" } },
];

describe("compile", () => {
  it("recompiles a policy whose spec changed, and a spec shared under another name gets that name", () => {
    const before = compile([web], hosts).hosts.get("web-1")?.ruleset.policies[0];
    const changed = policy("web", { ...web.spec, ingress: [{ name: "ssh", action: "Allow", protocol: "tcp", ports: [2222] }] });
    const after = compile([changed], hosts).hosts.get("web-1")?.ruleset.policies[0];
    expect(before?.input.map((r) => r.match.dports)).toContainEqual([[22, 22]]);
    expect(after?.input.map((r) => r.match.dports)).toEqual(expect.arrayContaining([[[2222, 2222]]]));
    expect(after?.input.map((r) => r.match.dports)).not.toContainEqual([[22, 22]]);
    const renamed = { ...web, metadata: { ...web.metadata, name: "web2" } };
    expect(compile([renamed], hosts).hosts.get("web-1")?.ruleset.policies[0]?.name).toBe("web2");
  });

  it("hosts with the same labels in another order select the same policies", () => {
    const r = compile([web, policy("zone", { hostSelector: { matchLabels: { zone: "a" } } })], [
      { id: "a", labels: { role: "web", zone: "a" } },
      { id: "b", labels: { zone: "a", role: "web" } },
      { id: "c", labels: { role: "web" } },
    ]);
    expect(r.selection.get("zone")).toEqual(["a", "b"]);
    expect(r.hosts.get("a")?.hash).toBe(r.hosts.get("b")?.hash);
    expect(r.hosts.get("c")?.hash).not.toBe(r.hosts.get("a")?.hash);
  });

  it("selects policies by label and orders them by order, then name", () => {
    const r = compile([web, base, audit], hosts);
    expect(r.hosts.get("web-1")?.policies.map((p) => p.name)).toEqual(["audit", "base", "web"]);
    expect(r.hosts.get("db-1")?.policies.map((p) => p.name)).toEqual(["audit", "base"]);
    expect(r.selection.get("web")).toEqual(["web-1"]);
    expect(r.selection.get("base")).toEqual(["db-1", "web-1"]);
  });

  it("resolves service names, merges ranges and splits addresses by family", () => {
    const rules = compile([web], hosts).hosts.get("web-1")?.ruleset.policies[0]?.input ?? [];
    const byName = Object.fromEntries(rules.map((r) => [r.name, r]));
    expect(byName.ssh?.match).toEqual({ families: ["ip", "ip6"], protocols: ["tcp"], dports: [[22, 22]] });
    expect(byName.web?.match.dports).toEqual([[80, 80], [443, 443], [8000, 8100]]);
    expect(byName.mon?.match.saddr).toEqual({ ip: ["198.18.0.0/24"], ip6: ["2001:db8::/64"] });
    expect(byName.icmp?.match.icmpTypes).toEqual([3, 4, 11, 12]);
  });

  it("takes the strictest default of the enforcing policies; audit policies never decide", () => {
    const r = compile([web, base, audit], hosts).hosts.get("web-1")?.ruleset;
    expect(r?.defaultInput.verdict).toBe("drop");
    expect(r?.defaultOutput.verdict).toBe("accept");
    const onlyAudit = compile([audit], hosts).hosts.get("db-1")?.ruleset;
    expect(onlyAudit?.defaultInput.verdict).toBe("accept");
    expect(onlyAudit?.policies[0]?.mode).toBe("audit");
    expect(compile([base], hosts).hosts.get("db-1")?.ruleset.defaultInput.verdict).toBe("reject");
  });

  it("gives a host no policy selects an empty ruleset", () => {
    const r = compile([web], hosts).hosts.get("db-1");
    expect(r?.ruleset.policies).toEqual([]);
    expect(r?.ruleset.defaultInput.verdict).toBe("accept");
  });

  it("changes the hash exactly when the outcome changes", () => {
    const a = compile([web], hosts).hosts.get("web-1")?.hash;
    const renamedGeneration = { ...web, metadata: { ...web.metadata, generation: 7 } };
    expect(compile([renamedGeneration], hosts).hosts.get("web-1")?.hash).toBe(a);
    const edited = policy("web", { ...web.spec, ingress: web.spec.ingress.slice(1) });
    expect(compile([edited], hosts).hosts.get("web-1")?.hash).not.toBe(a);
  });

  it("does not depend on the order of its inputs and is deterministic (property)", () => {
    const all = [web, base, audit, policy("x", { order: 100, hostSelector: { matchExpressions: [{ key: "role", operator: "Exists" }] } })];
    const fleet: HostInfo[] = [...hosts, { id: "x-1", labels: {} }, { id: "web-2", labels: { role: "web", zone: "a" } }];
    const reference = compile(all, fleet);
    fc.assert(
      fc.property(fc.shuffledSubarray(all, { minLength: all.length }), fc.shuffledSubarray(fleet, { minLength: fleet.length }), (ps, hs) => {
        const r = compile(ps, hs);
        expect([...r.hosts.entries()]).toEqual([...reference.hosts.entries()]);
        expect([...r.selection.entries()].sort()).toEqual([...reference.selection.entries()].sort());
      }),
      { numRuns: 200 },
    );
  });
});

describe("mergeRanges", () => {
  it.each<[[number, number][], [number, number][]]>([
    [[], []],
    [[[80, 80], [22, 22]], [[22, 22], [80, 80]]],
    [[[80, 90], [85, 100]], [[80, 100]]],
    [[[80, 80], [81, 81]], [[80, 81]]],
    [[[1, 65535], [22, 22]], [[1, 65535]]],
  ])("%j → %j", (input, expected) => expect(mergeRanges(input)).toEqual(expected));

  it("covers exactly the same ports, with no overlaps (property)", () => {
    const range = fc.tuple(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 0, max: 20 })).map(([lo, len]) => [lo, lo + len] as [number, number]);
    fc.assert(
      fc.property(fc.array(range, { maxLength: 12 }), (ranges) => {
        const merged = mergeRanges(ranges);
        const inAny = (rs: [number, number][], p: number) => rs.some(([lo, hi]) => p >= lo && p <= hi);
        for (let p = 1; p <= 222; p += 1) expect(inAny(merged, p)).toBe(inAny(ranges, p));
        for (let i = 1; i < merged.length; i += 1) expect(merged[i]![0]).toBeGreaterThan(merged[i - 1]![1] + 1);
      }),
    );
  });
});

describe("splitCidrs", () => {
  it("canonicalises, drops covered networks and sorts", () => {
    expect(splitCidrs(["198.18.0.5/24", "198.18.0.7", "198.18.1.0/24", "2001:db8::1/64", "2001:db8::5"])).toEqual({
      ip: ["198.18.0.0/24", "198.18.1.0/24"],
      ip6: ["2001:db8::/64"],
    });
  });
});

describe("precompile", () => {
  // 6 rules of 4,000 sources: 24,000 addresses, more than two slices
  const big = () =>
    policy("big", {
      ingress: Array.from({ length: 6 }, (_, r) => ({ name: `r${r}`, action: "Allow" as const, protocol: "tcp" as const, ports: [443], sources: Array.from({ length: 4000 }, (_, i) => `10.${r}.${i >> 8}.${i & 255}`) })),
    });

  it("hands the event loop back between slices and leaves the IR compile would make", async () => {
    const p = big();
    let pauses = 0;
    await precompile([p], async () => void (pauses += 1));
    expect(pauses).toBe(2);
    // compile finds the IR precompile kept (the same object), equal to a fresh compile of an equal spec
    const kept = compile([p], hosts).hosts.get("web-1")?.ruleset.policies[0];
    expect(compile([p], hosts).hosts.get("web-1")?.ruleset.policies[0]).toBe(kept);
    expect(kept).toEqual(compilePolicy(big()));
  });

  it("stops at the next slice when aborted, and compile still completes the policy", async () => {
    const p = big();
    const ac = new AbortController();
    let pauses = 0;
    await precompile([p, web], async () => {
      pauses += 1;
      ac.abort();
    }, ac.signal);
    expect(pauses).toBe(1);
    expect(compile([p], hosts).hosts.get("web-1")?.ruleset.policies[0]).toEqual(compilePolicy(big()));
  });
});
