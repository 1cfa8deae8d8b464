import { readFileSync, readdirSync } from "node:fs";
import fc from "fast-check";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { DURATION_PATTERN, FirewallPolicy, PORT_PATTERN, PortSpec, SERVICES, parseCidr, parseDurationMs, parseResource } from "./index.js";

const base = (spec: Record<string, unknown>) => ({
  apiVersion: "fleetwall.io/v1alpha1",
  kind: "FirewallPolicy",
  metadata: { name: "p" },
  spec: { hostSelector: {}, ...spec },
});

describe("FirewallPolicy validation names the field", () => {
  it.each([
    [{ ingress: [{ name: "a", action: "Allow", protocol: "tcp", ports: [70000] }] }, "spec.ingress[0].ports[0]"],
    [{ ingress: [{ name: "a", action: "Allow", protocol: "tcp", ports: ["90-80"] }] }, "spec.ingress[0].ports[0]: port range 90-80 starts after it ends"],
    [{ ingress: [{ name: "a", action: "Allow", protocol: "tcp", ports: ["sshh"] }] }, 'spec.ingress[0].ports[0]: "sshh" is not a port'],
    [{ ingress: [{ name: "a", action: "Allow", protocol: "icmp", ports: [22] }] }, "spec.ingress[0].ports: ports need protocol tcp or udp"],
    [{ ingress: [{ name: "a", action: "Allow", sources: ["10.0.0.0/33"] }] }, "spec.ingress[0].sources[0]"],
    [{ ingress: [{ name: "a", action: "Maybe" }] }, "spec.ingress[0].action"],
    [{ ingress: [{ name: "a", action: "Allow" }, { name: "a", action: "Deny" }] }, 'spec.ingress[1].name: duplicate rule name "a"'],
    [{ ingress: [{ name: "a", action: "Allow", protocol: "icmpv6", sources: ["198.18.0.1"] }] }, "spec.ingress[0].sources[0]: 198.18.0.1 is not an IPv6 address"],
    [{ ingress: [{ name: "a", action: "Allow", sources: ["198.18.0.0/24"], destinations: ["2001:db8::1"] }] }, "leave no address family"],
    [{ defaultInput: "drop" }, "spec.defaultInput"],
    [{ hostSelector: { matchExpressions: [{ key: "role", operator: "In" }] } }, "spec.hostSelector.matchExpressions[0].values: operator In needs at least one value"],
    [{ ingress: [{ name: "a", action: "Deny", rateLimit: { newConnections: 3, perSeconds: 60 } }] }, "spec.ingress[0].rateLimit"],
    // values nft refuses, which once stopped enforcement on every selected host
    [{ logDropped: { rate: "0/second" } }, "spec.logDropped.rate: must look like 5/minute"],
    [{ logDropped: { rate: "0/day" } }, "spec.logDropped.rate"],
    [{ logDropped: { rate: "99999999999999999999/second" } }, "spec.logDropped.rate"],
    [{ logDropped: { rate: "1000000/second" } }, "spec.logDropped.rate"],
    [{ icmp: { preset: "Ping", rate: "0/second" } }, "spec.icmp"],
    [{ icmp: 5 }, "spec.icmp"],
    [{ icmp: ["Ping"] }, "spec.icmp"],
    [{ logDropped: { prefix: "drop\u001b[31m " } }, "spec.logDropped.prefix: must not contain quotes, backslashes or control characters"],
    [{ ingress: [{ name: "a", action: "Allow", comment: "tab\there" }] }, "spec.ingress[0].comment: must not contain"],
    [{ ingress: [{ name: "a", action: "Allow", comment: "cr\rhere" }] }, "spec.ingress[0].comment"],
  ])("%j → %s", (spec, expected) => {
    const r = parseResource(base(spec));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.join("\n")).toContain(expected);
  });

  it("rejects unknown kinds without throwing", () => {
    const r = parseResource({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" } });
    expect(r).toMatchObject({ ok: false, errors: [expect.stringContaining("kind: unsupported kind")] });
  });

  it("fills the documented defaults", () => {
    const p = FirewallPolicy.parse(base({}));
    expect(p.spec).toMatchObject({
      order: 1000,
      mode: "Enforce",
      defaultInput: "Drop",
      defaultOutput: "Accept",
      baseline: { loopback: true, established: true, dropInvalid: true, badTcpFlags: true },
      icmp: "Essential",
      ingress: [],
      egress: [],
    });
  });
});

describe("parseCidr", () => {
  it.each([
    ["198.18.0.5/24", "198.18.0.0/24", "ip"],
    ["198.18.0.5", "198.18.0.5", "ip"],
    ["2001:db8::1/64", "2001:db8::/64", "ip6"],
    ["::ffff:203.0.113.7", "203.0.113.7", "ip"],
    ["2001:DB8:0:0::1", "2001:db8::1", "ip6"],
  ])("%s → %s", (input, text, family) => {
    expect(parseCidr(input)).toMatchObject({ text, family });
  });
  it.each(["", "198.18.0.0/33", "300.1.1.1", "2001:db8::/129", "host.example", "010.0.0.1", "10.0.0.01/8"])("rejects %j", (input) => {
    expect(() => parseCidr(input)).toThrow();
  });
});

describe("PORT_PATTERN, the CRD's check of a text port", () => {
  const port = (t: string) => /^[1-9][0-9]*$/.test(t) && Number(t) <= 65535;
  const lowAboveHigh = (s: string) => {
    const m = /^(\d+)-(\d+)$/.exec(s);
    return !!m && port(m[1] as string) && port(m[2] as string) && Number(m[1]) > Number(m[2]);
  };

  it("refuses exactly what zod refuses, but for ranges that start after they end (property)", () => {
    const digits = fc.string({ unit: fc.constantFrom(..."0123456789-"), minLength: 1, maxLength: 12 });
    const near = fc.oneof(fc.integer({ min: 0, max: 70000 }).map(String), fc.tuple(fc.integer({ min: 0, max: 70000 }), fc.integer({ min: 0, max: 70000 })).map(([a, b]) => `${a}-${b}`));
    const names = fc.oneof(fc.constantFrom(...Object.keys(SERVICES)), fc.string({ maxLength: 8 }));
    fc.assert(fc.property(fc.oneof(digits, near, names), (s) => {
      const zodOk = PortSpec.safeParse(s).success;
      expect(PORT_PATTERN.test(s), s).toBe(zodOk || lowAboveHigh(s));
    }), { numRuns: 5000 });
  });

  it.each(["22", "65535", "1-65535", "9100-9102", "ssh", "node-exporter"])("accepts %j", (s) => expect(PORT_PATTERN.test(s)).toBe(true));
  it.each(["0", "65536", "022", "1-65536", "0-10", "-1", "ssh ", "SSH", "22/tcp"])("refuses %j", (s) => {
    expect(PORT_PATTERN.test(s)).toBe(false);
    expect(PortSpec.safeParse(s).success).toBe(false);
  });
});

describe("DURATION_PATTERN, the CRD's check of a duration", () => {
  // the grammar trims spaces around a duration; the CRD refuses them, which no one writes on purpose
  it("accepts exactly the texts the duration grammar reads whose parts are plain numbers above 0 (property)", () => {
    const text = fc.string({ unit: fc.constantFrom(..."0123456789wdhms.-"), maxLength: 10 });
    fc.assert(fc.property(text, (t) => {
      let grammar = true;
      try {
        parseDurationMs(t);
      } catch {
        grammar = false;
      }
      // the pattern also refuses what a resource may not write though the grammar reads it: a part of
      // zero, a leading zero, more than 7 digits
      const plainParts = [...t.matchAll(/(\d+)(ms|s|m|h|d|w)/g)].every((m) => /^[1-9][0-9]{0,6}$/.test(m[1] as string));
      expect(t !== "" && DURATION_PATTERN.test(t), t).toBe(grammar && plainParts);
    }), { numRuns: 5000 });
  });
});

describe("every example in examples/", () => {
  const dir = new URL("../../examples/", import.meta.url);
  const docs = readdirSync(dir).filter((f) => f.endsWith(".yaml")).flatMap((f) => parseAllDocuments(readFileSync(new URL(f, dir), "utf8")).map((d) => [f, d.toJS()] as const));

  it.each(docs)("%s is valid under the strict schemas", (_, doc) => {
    expect(parseResource(doc)).toMatchObject({ ok: true });
  });
});
