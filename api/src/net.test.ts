import fc from "fast-check";
import { describe, expect, it } from "vitest";
import ipaddr from "ipaddr.js";
import { BanSignal } from "./ban-messages.js";
import { uncoveredCidrs } from "./cidr-cover.js";
import { SCHEMA_VERSION } from "./messages.js";
import { CIDR_PATTERN, CidrSet, CidrString, cidrContains, cidrProblem, isCidr, parseCidr, type Cidr } from "./net.js";

describe("parseCidr", () => {
  it.each([
    ["198.18.0.7", "198.18.0.7", 32],
    ["198.18.0.7/24", "198.18.0.0/24", 24],
    ["2001:DB8:0:0::1", "2001:db8::1", 128],
    ["2001:db8::1/64", "2001:db8::/64", 64],
    ["::ffff:198.18.0.7", "198.18.0.7", 32],
    [" 203.0.113.9 ", "203.0.113.9", 32],
  ])("%s → %s", (input, text, prefix) => expect(parseCidr(input)).toMatchObject({ text, prefix }));

  it.each(["198.18.0.256", "010.0.0.1", "2001:db8::g", "198.18.0.0/33", ""])("refuses %j", (input) => expect(() => parseCidr(input)).toThrow());
  // a zone id kept in the text made `2001:db8:f0::12%eth0` a different address from the fleet host
  // 2001:db8:f0::12, and a bucket key that can never be stored
  it.each(["2001:db8:f0::12%eth0", "fe80::1%1", "2001:db8::1%eth0/64", "::ffff:198.18.0.1%x"])("refuses the zone id in %j", (input) => {
    expect(() => parseCidr(input)).toThrow(/zone ids/);
    expect(isCidr(input)).toBe(false);
    expect(BanSignal.safeParse({ schemaVersion: SCHEMA_VERSION, hostId: "h1", jail: "sshd", address: input, failures: 5, at: "2026-11-27T12:00:00Z", banSeconds: 60 }).success).toBe(false);
    expect(CidrString.safeParse(input).success).toBe(false);
  });
});

describe("CidrSet", () => {
  // a small address space, so that overlaps are common
  const v4 = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 255 }), fc.constantFrom(32, 32, 30, 24, 23)).map(([b, c, p]) => parseCidr(`198.18.${b}.${c}/${p}`));
  const v6 = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.constantFrom(128, 128, 126, 120)).map(([n, p]) => parseCidr(`2001:db8::${n}/${p}`));
  const cidr = fc.oneof(v4, v4, v6);
  const naive = (members: Cidr[], c: Cidr) => members.some((n) => cidrContains(n, c) || cidrContains(c, n));

  it("says a CIDR overlaps exactly when it contains a member or lies in one (property)", () => {
    fc.assert(fc.property(fc.array(cidr, { maxLength: 30 }), fc.array(cidr, { minLength: 1, maxLength: 20 }), (members, probes) => {
      const set = new CidrSet(members);
      for (const c of probes) expect(set.overlaps(c)).toBe(naive(members, c));
    }), { numRuns: 300 });
  });

  it.each([
    ["an address in the set", "198.18.0.7", true],
    ["another address", "198.18.0.8", false],
    ["a network around a member", "198.18.0.0/24", true],
    ["an address in a member network", "203.0.113.77", true],
    ["a network inside a member network", "203.0.113.64/26", true],
    ["the same address in the other family", "::ffff:198.18.0.8", false],
  ])("%s: %s → %s", (_, text, expected) => {
    const set = new CidrSet(["198.18.0.7", "203.0.113.0/24", "2001:db8::1"].map(parseCidr));
    expect(set.overlaps(parseCidr(text))).toBe(expected);
  });
});

describe("parseCidr's plain IPv4 path", () => {
  // the reference: ipaddr.js alone, as parseCidr worked before it had a fast path
  const reference = (text: string) => {
    const [addr, prefix] = text.includes("/") ? ipaddr.IPv4.parseCIDR(text) : [ipaddr.IPv4.parse(text), 32];
    return prefix === 32 ? addr.toString() : `${ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${prefix}`).toString()}/${prefix}`;
  };
  it("gives ipaddr.js's canonical text for every address and prefix (property)", () => {
    const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255), fc.option(fc.nat(32))).map(([a, b, c, d, p]) => `${a}.${b}.${c}.${d}${p === null ? "" : `/${p}`}`);
    fc.assert(fc.property(v4, (text) => {
      expect(parseCidr(text)).toEqual({ family: "ip", prefix: text.includes("/") ? Number(text.split("/")[1]) : 32, text: reference(text) });
    }), { numRuns: 3000 });
  });
  it.each(["198.18.0.01", "198.18.0.0/033", "198.18.0.0/33", "256.0.0.0"])("still refuses %j", (text) => expect(() => parseCidr(text)).toThrow());
});

describe("uncoveredCidrs", () => {
  const v4 = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 255 }), fc.constantFrom(32, 31, 30, 25, 24, 23, 22)).map(([b, c, p]) => parseCidr(`198.18.${b}.${c}/${p}`));
  const v6 = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.constantFrom(128, 127, 124, 120, 116)).map(([n, p]) => parseCidr(`2001:db8::${n.toString(16)}/${p}`));
  // the quadratic definition: keep a CIDR unless another (or an equal one earlier) covers it
  const naive = (cs: Cidr[]) => cs.filter((c, i) => !cs.some((o, j) => j !== i && cidrContains(o, c) && (o.text !== c.text || j < i)));
  it.each([["IPv4", v4], ["IPv6", v6]] as const)("keeps exactly the CIDRs no other covers, in input order (%s, property)", (_, gen) => {
    fc.assert(fc.property(fc.array(gen, { maxLength: 40 }), (cs) => {
      expect(uncoveredCidrs(cs).map((c) => c.text)).toEqual(naive(cs).map((c) => c.text));
    }), { numRuns: 500 });
  });
});

describe("CIDR_PATTERN, the CRD's check of an address or CIDR", () => {
  const prefix = (max: number) => fc.option(fc.integer({ min: 0, max }), { nil: undefined }).map((p) => (p === undefined ? "" : `/${p}`));
  const v4 = fc.tuple(fc.ipV4(), prefix(32)).map(([a, p]) => a + p);
  const v6 = fc.tuple(fc.ipV6(), prefix(128)).map(([a, p]) => a + p);

  it("accepts every IPv4 and IPv6 text form, with or without a prefix (property)", () => {
    fc.assert(fc.property(fc.oneof(v4, v6), (text) => {
      expect(CIDR_PATTERN.test(text), text).toBe(true);
      // zod also refuses host bits and IPv4-mapped forms, naming the canonical network: which it accepts
      expect(CidrString.safeParse(text).success, text).toBe(cidrProblem(text) === undefined);
      expect(CidrString.safeParse(parseCidr(text).text).success, text).toBe(true);
    }), { numRuns: 2000 });
  });

  it("accepts nothing parseCidr refuses (property over the characters addresses are made of)", () => {
    const text = fc.string({ unit: fc.constantFrom(..."0123456789abcdef:./"), maxLength: 24 });
    fc.assert(fc.property(text, (t) => {
      if (CIDR_PATTERN.test(t)) expect(isCidr(t), t).toBe(true);
    }), { numRuns: 5000 });
  });

  it.each(["127.1", "0x7f.0.0.1", "fe80::1%eth0", "198.18.0.1/024", "1.2.3.4 ", "::ffff:1.2.3.4.5", "1:2:3:4:5:6:7:1.2.3.4"])("refuses %j, which address parsers read in different ways", (text) => {
    expect(CIDR_PATTERN.test(text)).toBe(false);
    expect(CidrString.safeParse(text).success).toBe(false);
  });
});
