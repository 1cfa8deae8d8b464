import { execFileSync } from "node:child_process";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FirewallPolicy, parseCidr } from "@fleetwall/api";
import { compile } from "@fleetwall/controller";
import { nftBinary, checkScript } from "./nft.js";
import { failsafeNotes, rateExpression, render, type Failsafe } from "./render.js";

// `nft -c` checks a script against the kernel without changing anything; it runs in a namespace of
// this file's own so that nothing depends on the machine's ruleset.
const NS = `fwrender${process.pid}`;
const nft = nftBinary({ prefix: ["ip", "netns", "exec", NS] });
beforeAll(() => {
  execFileSync("ip", ["netns", "add", NS]);
});
afterAll(() => {
  execFileSync("ip", ["netns", "del", NS]);
});

const failsafe: Failsafe = { sshPorts: [22], sshSources: { ip: [], ip6: [] }, nats: [{ address: "198.18.0.1", family: "ip", port: 4222 }], dhcp: true };

function scriptFor(specs: unknown[], labels: Record<string, string> = { role: "web" }, names: string[] = []): string {
  const policies = specs.map((spec, i) => FirewallPolicy.parse({ apiVersion: "fleetwall.io/v1alpha1", kind: "FirewallPolicy", metadata: { name: names[i] ?? `p${i}` }, spec }));
  const host = compile(policies, [{ id: "h", labels }]).hosts.get("h");
  if (!host) throw new Error("no host");
  return render(host.ruleset, failsafe).script;
}

describe("render", () => {
  it("removes the table when no policy applies", () => {
    expect(scriptFor([])).toBe("table inet fleetwall {}\ndelete table inet fleetwall\n");
  });

  it("renders the bus failsafe before any policy rule, SSH from anywhere after them, and the default last", () => {
    const script = scriptFor([{ hostSelector: {}, ingress: [{ name: "web", action: "Allow", protocol: "tcp", ports: [80] }] }]);
    const input = script.slice(script.indexOf("chain input {"));
    expect(input.indexOf("jump failsafe_in")).toBeLessThan(input.indexOf("jump in_p0"));
    expect(input.indexOf("jump in_p0")).toBeLessThan(input.indexOf("jump failsafe_ssh"));
    expect(input.indexOf("jump failsafe_ssh")).toBeLessThan(input.indexOf('counter drop comment "default/input"'));
    expect(script).toContain('chain failsafe_ssh {\n\t\ttcp dport 22 accept comment "failsafe/ssh"');
    expect(script).not.toMatch(/chain failsafe_in \{[^}]*dport 22/);
    expect(script).toContain('ip daddr 198.18.0.1 tcp dport 4222 accept comment "failsafe/nats-0"');
  });

  it("applies a policy's SSH rate limit and Deny before the failsafe; only management sources come first", () => {
    const policy = [{ hostSelector: {}, ingress: [
      { name: "ssh-limited", action: "Allow", protocol: "tcp", ports: [22], rateLimit: { newConnections: 3, perSeconds: 60 } },
      { name: "no-ssh-from", action: "Deny", protocol: "tcp", ports: [22], sources: ["203.0.113.0/24"] },
    ] }];
    const compiled = compile(policy.map((p, i) => FirewallPolicy.parse({ apiVersion: "fleetwall.io/v1alpha1", kind: "FirewallPolicy", metadata: { name: `p${i}` }, spec: p })), [{ id: "h", labels: {} }]).hosts.get("h");
    const ruleset = compiled?.ruleset as Parameters<typeof render>[0];
    const script = render(ruleset, failsafe).script;
    const input = script.slice(script.indexOf("chain input {"));
    expect(input.indexOf("jump in_p0")).toBeLessThan(input.indexOf("jump failsafe_ssh"));
    expect(failsafeNotes(ruleset, failsafe)[0]).toBe("failsafe/ssh: SSH (tcp 22) that no policy rule matched is accepted instead of the default drop; the policies' own rules on it (rate limits, Deny, per-source Allow) apply first");
    const managed = { ...failsafe, sshSources: { ip: ["198.51.100.0/24"], ip6: [] } };
    const withSources = render(ruleset, managed).script;
    expect(withSources).toContain('chain failsafe_in {\n\t\tip saddr 198.51.100.0/24 tcp dport 22 accept comment "failsafe/ssh-v4"');
    expect(withSources).toContain("chain failsafe_ssh {\n\t}");
    expect(failsafeNotes(ruleset, managed)[0]).toMatch(/^failsafe\/ssh-v4, failsafe\/ssh-v6: SSH \(tcp 22\) from the management sources 198.51.100.0\/24 is accepted before every policy rule/);
  });

  it("uses sets, not one rule per port or address", () => {
    const script = scriptFor([{ hostSelector: {}, ingress: [{ name: "m", action: "Allow", ports: [22, 80, "9100-9102"], sources: ["198.18.0.0/24", "198.18.9.0/24"] }] }]);
    expect(script).toContain("ip saddr { 198.18.0.0/24, 198.18.9.0/24 } meta l4proto { tcp, udp } th dport { 22, 80, 9100-9102 } counter accept");
  });

  it("renders a long address list as one named interval set that nft accepts, overlaps and neighbours included", async () => {
    // (rule 2 of the input chain: the ICMP preset rules come first)
    // 1,000 /24s, each also given as a /25 inside it and an address inside that: only the /24s remain
    const sources = Array.from({ length: 1000 }, (_, i) => [`10.${i >> 8}.${i & 255}.0/24`, `10.${i >> 8}.${i & 255}.128/25`, `10.${i >> 8}.${i & 255}.7`]).flat();
    const six = Array.from({ length: 100 }, (_, i) => `2001:db8:${i.toString(16)}::/48`);
    const script = scriptFor([{ hostSelector: {}, ingress: [{ name: "many", action: "Allow", protocol: "tcp", ports: [443], sources: [...sources, ...six, "2001:db8::/32"] }] }]);
    expect(script).toMatch(/set a_in_p0_2_s4 \{\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = \{ 10\.0\.0\.0\/24, /);
    expect(script).toContain("ip saddr @a_in_p0_2_s4 tcp dport 443 counter accept");
    // the IPv6 list collapsed to the /32 that covers it: a plain match, no set
    expect(script).toContain("ip6 saddr 2001:db8::/32 tcp dport 443 counter accept");
    const set4 = /set a_in_p0_2_s4 \{[^}]*elements = \{ ([^}]*) \}/.exec(script)?.[1]?.split(", ") ?? [];
    expect(set4).toHaveLength(1000);
    await expect(checkScript(nft, script)).resolves.toBeUndefined();
  });

  it.each([
    [3, 60, "3/minute"],
    [5, 30, "10/minute"],
    [10, 1, "10/second"],
    [1, 3600, "1/hour"],
    [1, 7, "12343/day"],
  ])("rate %i per %i s is %s", (n, s, expected) => expect(rateExpression(n, s)).toBe(expected));

  it("renders what nft accepts for a policy using every feature", async () => {
    const script = scriptFor([
      {
        hostSelector: {},
        order: 1,
        mode: "Audit",
        defaultInput: "Drop",
        ingress: [{ name: "no-telnet", action: "Deny", protocol: "tcp", ports: ["telnet"] }],
      },
      {
        hostSelector: { matchLabels: { role: "web" } },
        defaultInput: "Reject",
        defaultOutput: "Drop",
        icmp: { preset: "Ping", types: ["router-advertisement"], rate: "10/second" },
        logDropped: { prefix: "fw drop: ", rate: "5/minute" },
        ingress: [
          { name: "ssh", action: "Allow", protocol: "tcp", ports: ["ssh"], rateLimit: { newConnections: 3, perSeconds: 60 } },
          { name: "dns", action: "Allow", ports: ["dns"], sources: ["198.18.0.0/24", "2001:db8::/48"] },
          { name: "scanner", action: "Reject", sources: ["203.0.113.0/24"], comment: "known scanner" },
          { name: "lan", action: "Log", interface: "eth0", state: ["new"] },
          { name: "ping6", action: "Allow", protocol: "icmpv6", icmpTypes: ["echo-request", 129] },
        ],
        egress: [
          { name: "no-smtp", action: "Reject", protocol: "tcp", ports: ["smtp"] },
          { name: "dns-out", action: "Allow", protocol: "udp", ports: [53], destinations: ["2001:db8::53"] },
        ],
      },
    ]);
    await expect(checkScript(nft, script)).resolves.toBeUndefined();
  });
});

describe("user text and numbers are bounded to what nft accepts", () => {
  const long = `p${"a".repeat(251)}9`; // 253 characters, the longest name the API takes
  it.each([
    ["a comment of 100 non-ASCII characters", [{ hostSelector: {}, ingress: [{ name: "a", action: "Allow", comment: "é".repeat(100) }] }], ["p0"]],
    ["a comment of 100 four-byte characters", [{ hostSelector: {}, ingress: [{ name: "a", action: "Allow", comment: "😀".repeat(100) }] }], ["p0"]],
    ["a 122-character policy name", [{ hostSelector: {}, ingress: [{ name: "a", action: "Allow" }] }], [`p${"a".repeat(120)}9`]],
    ["a 253-character policy name with a rate limit, audit and a default log", [{ hostSelector: {}, mode: "Audit", logDropped: { prefix: "😀".repeat(64) }, ingress: [{ name: "a", action: "Allow", protocol: "tcp", ports: [22], rateLimit: { newConnections: 100000, perSeconds: 86400 } }] }], [long]],
    ["two 253-character names that differ at the end only", [{ hostSelector: {}, ingress: [{ name: "a", action: "Allow", rateLimit: { newConnections: 1, perSeconds: 1 } }] }, { hostSelector: {} }], [long, `${long.slice(0, -1)}8`]],
    ["extreme rates", [{ hostSelector: {}, icmp: { preset: "Ping", rate: "999999/second" }, logDropped: { rate: "1/day" }, ingress: [{ name: "l", action: "Log" }] }], ["p0"]],
  ])("%s", async (_what, specs, names) => {
    const script = scriptFor(specs, undefined, names);
    await expect(checkScript(nft, script)).resolves.toBeUndefined();
    for (const m of script.matchAll(/comment "([^"]*)"/g)) expect(new TextEncoder().encode(m[1]).length).toBeLessThanOrEqual(128);
    for (const m of script.matchAll(/log prefix "([^"]*)"/g)) expect(new TextEncoder().encode(m[1]).length).toBeLessThanOrEqual(127);
  });

  it("keeps names distinct when it shortens them", () => {
    const script = scriptFor([{ hostSelector: {} }, { hostSelector: {} }], undefined, [long, `${long.slice(0, -1)}8`]);
    const chains = [...script.matchAll(/chain (in_\S+) \{/g)].map((m) => m[1]);
    expect(new Set(chains).size).toBe(2);
  });
});

// Generators for policies: each accepted (valid) policy must render to a script nft accepts.
const cidr4 = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 8, max: 32 })).map(([a, b, p]) => `198.${18 + (a % 2)}.${b}.0/${p}`),
  fc.constant("203.0.113.7"),
).map((c) => parseCidr(c).text);
const cidr6 = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 32, max: 128 })).map(([a, p]) => `2001:db8:${a.toString(16)}::/${p}`),
  fc.constant("2001:db8::1"),
).map((c) => parseCidr(c).text);
const cidr = fc.oneof(cidr4, cidr6);
// for lists long enough to become named sets: narrow networks and addresses, overlapping and adjacent
// written as their networks (the API refuses host bits: 198.18.0.1/24 would mean 198.18.0.0/24)
const narrowCidr = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 24, max: 32 })).map(([a, b, c, p]) => `198.${18 + a}.${b}.${c}/${p}`) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xff }), fc.integer({ min: 56, max: 128 })).map(([a, b, p]) => `2001:db8:${a.toString(16)}:${b.toString(16)}::/${p}`) },
).map((c) => parseCidr(c).text);
const longList = fc.array(narrowCidr, { minLength: 90, maxLength: 160 });
const port = fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.constantFrom("ssh", "https", "dns", "smtp", "imap"), fc.tuple(fc.integer({ min: 1, max: 60000 }), fc.integer({ min: 0, max: 5000 })).map(([a, l]) => `${a}-${a + l}`));
// extremes the API accepts (and some it must refuse: those never reach nft)
const RATES = fc.constantFrom("5/minute", "1/second", "1/day", "999999/second", "999999/day", "1/hour");
/** Mostly `valid`, sometimes `invalid`: what the API refuses is still generated, without drowning the valid ones. */
const mostly = <T, U>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<U>) => fc.oneof({ weight: 9, arbitrary: valid }, { weight: 1, arbitrary: invalid });
const policyName = fc.oneof(fc.constantFrom("p", "web"), fc.integer({ min: 120, max: 253 }).map((n) => `p${"a".repeat(n - 2)}9`), fc.constant(`${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`));
const rateLimit = fc.record({ newConnections: fc.oneof(fc.integer({ min: 1, max: 100 }), fc.constantFrom(1, 100000)), perSeconds: fc.oneof(fc.integer({ min: 1, max: 3600 }), fc.constantFrom(1, 7, 86400)) });
const comment = fc.oneof(fc.constantFrom("x", "from the guide", "é".repeat(100), "😀".repeat(100), "漢".repeat(100)), fc.string({ unit: "grapheme", maxLength: 100 }));
const ruleName = fc.oneof(fc.constantFrom("a", "b", "c", "d", "e"), fc.constant(`r${"x".repeat(46)}9`));
// any rule the schema has fields for, fitting together or not (the API refuses most)
const rule = fc.record(
  {
    name: ruleName,
    action: fc.constantFrom("Allow", "Deny", "Reject", "Log"),
    protocol: fc.constantFrom("tcp", "udp", "icmp", "icmpv6"),
    ports: fc.array(port, { minLength: 1, maxLength: 5 }),
    sources: fc.array(cidr, { minLength: 1, maxLength: 4 }),
    destinations: fc.array(cidr, { minLength: 1, maxLength: 3 }),
    interface: fc.constantFrom("eth0", "ens3", "wg0"),
    icmpTypes: fc.array(fc.constantFrom("echo-request", "destination-unreachable", 3, 128), { minLength: 1, maxLength: 3 }),
    state: fc.uniqueArray(fc.constantFrom("new", "established", "related", "invalid"), { minLength: 1, maxLength: 3 }),
    rateLimit,
    comment,
    counter: fc.boolean(),
  },
  { requiredKeys: ["name", "action"] },
);
// A rule whose fields fit together (ports with tcp and udp, ICMP types with icmp and icmpv6, a rate
// limit on Allow, addresses of a family the protocol has): nearly every one is valid, so policies
// with many rules are checked, not only the few with one rule that happen to be valid.
const addresses = (family: "ip" | "ip6" | "both", max: number) =>
  family === "ip" ? fc.array(cidr4, { minLength: 1, maxLength: max })
  : family === "ip6" ? fc.array(cidr6, { minLength: 1, maxLength: max })
  // both families in each list, so that sources and destinations always share one
  : fc.tuple(cidr4, fc.array(cidr, { maxLength: max - 2 }), cidr6).map(([a, rest, b]) => [a, ...rest, b]);
const coherentRule = fc
  .tuple(fc.constantFrom("tcp", "udp", "icmp", "icmpv6", "any"), fc.constantFrom("Allow", "Deny", "Reject", "Log"), fc.constantFrom("ip", "ip6", "both"))
  .chain(([protocol, action, anyFamily]) => {
    const family = protocol === "icmp" ? "ip" : protocol === "icmpv6" ? "ip6" : (anyFamily as "ip" | "ip6" | "both");
    const icmpTypes = protocol === "icmp" ? ["echo-request", "destination-unreachable", 3, 0] : ["echo-request", "destination-unreachable", 128, 1];
    return fc.record(
      {
        name: ruleName,
        action: fc.constant(action),
        // no protocol: every protocol (tcp and udp where it names ports)
        ...(protocol === "any" ? {} : { protocol: fc.constant(protocol) }),
        ...(protocol === "icmp" || protocol === "icmpv6" ? { icmpTypes: fc.array(fc.constantFrom(...icmpTypes), { minLength: 1, maxLength: 3 }) } : {}),
        ...(protocol === "icmp" || protocol === "icmpv6" ? {} : { ports: fc.array(port, { minLength: 1, maxLength: 5 }) }),
        sources: addresses(family, 4),
        destinations: addresses(family, 3),
        interface: fc.constantFrom("eth0", "ens3", "wg0"),
        state: fc.uniqueArray(fc.constantFrom("new", "established", "related", "invalid"), { minLength: 1, maxLength: 3 }),
        ...(action === "Allow" ? { rateLimit } : {}),
        comment,
        counter: fc.boolean(),
      },
      { requiredKeys: ["name", "action"] },
    );
  });
const rules = (maxLength: number) => mostly(fc.uniqueArray(fc.oneof({ weight: 19, arbitrary: coherentRule }, { weight: 1, arbitrary: rule }), { maxLength, selector: (r) => r.name }), fc.array(rule, { maxLength }));
const spec = fc.record(
  {
    hostSelector: fc.constant({}),
    order: fc.integer({ min: 0, max: 10 }),
    mode: fc.constantFrom("Enforce", "Audit"),
    defaultInput: fc.constantFrom("Drop", "Reject", "Accept"),
    defaultOutput: fc.constantFrom("Drop", "Reject", "Accept"),
    baseline: fc.record({ loopback: fc.boolean(), established: fc.boolean(), dropInvalid: fc.boolean(), badTcpFlags: fc.boolean() }),
    icmp: fc.oneof(fc.constantFrom("Essential", "Ping", "All", "None"), fc.record({ preset: fc.constantFrom("Essential", "Ping", "All", "None"), rate: mostly(RATES, fc.constantFrom("0/second", "99999999999999999999/second")) }, { requiredKeys: [] })),
    logDropped: fc.record({ prefix: fc.oneof(fc.constantFrom("drop: ", "fw ", "é".repeat(64), "😀".repeat(64)), fc.string({ unit: "grapheme", maxLength: 64 })), rate: mostly(RATES, fc.constantFrom("0/day", "1000000/second", "99999999999999999999/second")) }),
    ingress: rules(5),
    egress: rules(3),
  },
  { requiredKeys: ["hostSelector"] },
);

describe("every valid policy renders to a script nft accepts (property)", () => {
  const runs = Number(process.env.FLEETWALL_PROPERTY_RUNS ?? 1000);
  it(`${runs} generated policy sets`, async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(spec, { minLength: 1, maxLength: 3 }), fc.uniqueArray(policyName, { minLength: 3, maxLength: 3 }), async (specs, names) => {
        const valid = specs.every((s, i) => FirewallPolicy.safeParse({ apiVersion: "fleetwall.io/v1alpha1", kind: "FirewallPolicy", metadata: { name: names[i] }, spec: s }).success);
        fc.pre(valid);
        accepted += 1;
        await checkScript(nft, scriptFor(specs, undefined, names));
      }),
      { numRuns: runs, maxSkipsPerRun: 100 },
    );
    expect(accepted).toBeGreaterThanOrEqual(runs);
  }, 300_000);
});

// Rules with long address lists (named interval sets), valid by construction: overlapping, nested and
// adjacent networks of both families, in sources and destinations, with the other features a rule has.
const bigRule = fc.record(
  {
    name: fc.constantFrom("a", "b", "c"),
    action: fc.constantFrom("Allow", "Deny", "Reject", "Log"),
    protocol: fc.constantFrom("tcp", "udp"),
    ports: fc.array(port, { minLength: 1, maxLength: 3 }),
    sources: longList,
    destinations: longList,
    comment: fc.constantFrom("x", "big list"),
    counter: fc.boolean(),
  },
  { requiredKeys: ["name", "action", "protocol", "ports"] },
);
const bigSpec = fc.record({
  hostSelector: fc.constant({}),
  mode: fc.constantFrom("Enforce", "Audit"),
  ingress: fc.uniqueArray(bigRule, { minLength: 1, maxLength: 3, selector: (r) => r.name }),
  egress: fc.uniqueArray(bigRule, { maxLength: 2, selector: (r) => r.name }),
});

describe("long address lists render as named sets nft accepts (property)", () => {
  const runs = Math.max(20, Math.round(Number(process.env.FLEETWALL_PROPERTY_RUNS ?? 1000) / 10));
  it(`${runs} generated policies`, async () => {
    let named = 0;
    await fc.assert(
      fc.asyncProperty(bigSpec, async (s) => {
        const script = scriptFor([s]);
        if (/(saddr|daddr) @a_/.test(script)) named += 1;
        await checkScript(nft, script);
      }),
      { numRuns: runs },
    );
    // nearly every one: a list of 90 or more keeps more than 64 after merging
    expect(named).toBeGreaterThanOrEqual(runs * 0.9);
  }, 300_000);
});
