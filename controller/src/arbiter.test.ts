import { describe, expect, it } from "vitest";
import { SCHEMA_VERSION, parseCidr, type BanSignal } from "@fleetwall/api";
import { arbitrate, protectedReason, type ArbiterConfig, type ArbiterView } from "./arbiter.js";
import type { SignalRefusalCode } from "./signal-refusals.js";

const config: ArbiterConfig = {
  minReporters: 2,
  reportWindowSeconds: 600,
  maxBanSeconds: 30 * 86400,
  soloMaxBanSeconds: 3600,
  soloBudgetPerMinute: 10,
  minPrefix: { ip: 16, ip6: 48 },
  protect: [parseCidr("198.18.0.1")],
};
const now = Date.parse("2026-11-27T12:00:00Z");
const signal = (over: Partial<BanSignal> = {}): BanSignal => ({ schemaVersion: SCHEMA_VERSION, hostId: "a", jail: "sshd", address: "203.0.113.7", failures: 5, at: new Date(now).toISOString(), banSeconds: 3600, ...over });
const view = (over: Partial<ArbiterView> = {}): ArbiterView => ({
  allow: [],
  hosts: [parseCidr("198.18.0.11")],
  controlPlane: config.protect,
  management: [parseCidr("198.51.100.0/24")],
  previousOffences: 0,
  reporters: new Map([["a", now]]),
  soloBudgetLeft: 10,
  ...over,
});
const seconds = (p: ReturnType<typeof arbitrate>) => (p.puts[0] ? (Date.parse(p.puts[0].expiresAt as string) - now) / 1000 : -1);
const two = new Map([["a", now], ["b", now - 60_000]]);

describe("arbitrate: one reporter alone", () => {
  it("bans a single address fleet-wide for the jail's ban time, spending its budget", () => {
    const p = arbitrate(signal(), view(), config, now);
    expect(p).toMatchObject({ solo: true, refusals: [], puts: [{ list: "jail-sshd", type: "Deny", cidr: "203.0.113.7", origins: ["a"], offences: 1, expiresAt: "2026-11-27T13:00:00.000Z", source: "jail" }] });
  });

  it("is capped at the solo ban time, however long the jail asks for or escalates", () => {
    expect(seconds(arbitrate(signal({ banSeconds: 30 * 86400 }), view(), config, now))).toBe(3600);
    expect(seconds(arbitrate(signal({ increment: { factor: 4, maxSeconds: 86400 } }), view({ previousOffences: 3 }), config, now))).toBe(3600);
  });

  it("may not ban a network: that needs a quorum", () => {
    expect(arbitrate(signal({ address: "203.0.113.0/24" }), view(), config, now).refusals).toEqual([{ cidr: "203.0.113.0/24", code: "needs-quorum", reason: "a /24 needs a quorum: 1 of 2 reporting hosts" }]);
  });

  it("past its budget the detection stays local", () => {
    const p = arbitrate(signal(), view({ soloBudgetLeft: 0 }), config, now);
    expect(p.puts).toEqual([]);
    expect(p.refusals[0]?.reason).toMatch(/^over budget: a alone may cause 10 fleet bans in any 60 s/);
    expect(p.refusals[0]?.code).toBe("over-budget");
  });
});

describe("arbitrate: a quorum", () => {
  it("gets escalation up to the maximum, and networks", () => {
    const inc = { increment: { factor: 2, maxSeconds: 3 * 3600 } };
    expect(seconds(arbitrate(signal(inc), view({ reporters: two }), config, now))).toBe(3600);
    expect(seconds(arbitrate(signal(inc), view({ reporters: two, previousOffences: 1 }), config, now))).toBe(7200);
    expect(seconds(arbitrate(signal(inc), view({ reporters: two, previousOffences: 5 }), config, now))).toBe(3 * 3600);
    expect(seconds(arbitrate(signal({ banSeconds: 90 * 86400 }), view({ reporters: two }), config, now))).toBe(30 * 86400);
    expect(arbitrate(signal({ address: "203.0.113.0/24" }), view({ reporters: two }), config, now)).toMatchObject({ solo: false, puts: [{ cidr: "203.0.113.0/24", origins: ["a", "b"] }] });
  });

  it("counts only reports inside the window", () => {
    const stale = new Map([["a", now], ["b", now - 2 * 3600_000]]);
    expect(arbitrate(signal({ banSeconds: 7200 }), view({ reporters: stale }), config, now)).toMatchObject({ solo: true });
    expect(seconds(arbitrate(signal({ banSeconds: 7200 }), view({ reporters: stale }), config, now))).toBe(3600);
  });
});

describe("arbitrate never bans what is protected", () => {
  it.each<[string, Partial<BanSignal>, Partial<ArbiterView>, string, SignalRefusalCode]>([
    ["allowlisted", {}, { allow: [parseCidr("203.0.113.0/24")] }, "allowlisted", "allowlisted"],
    ["a fleet host", { address: "198.18.0.11" }, {}, "a fleet host", "fleet-host"],
    ["the control plane", { address: "198.18.0.1" }, {}, "the control plane", "control-plane"],
    ["a management network", { address: "198.51.100.9" }, {}, "a management network", "management-network"],
    ["not an address", { address: "example.com" }, {}, "not an address", "not-an-address"],
    ["/0", { address: "0.0.0.0/0" }, { reporters: two }, "prefix /0 is broader than the minimum /16", "prefix-too-broad"],
    ["link-local v6, by a quorum", { address: "fe80::1" }, { reporters: two }, "link-local (fe80::/10) is never banned", "special-address"],
    ["link-local v4", { address: "169.254.169.254" }, {}, "link-local (169.254.0.0/16) is never banned", "special-address"],
    ["loopback", { address: "127.0.0.1" }, {}, "loopback (127.0.0.0/8) is never banned", "special-address"],
    ["multicast", { address: "ff02::1" }, {}, "multicast (ff00::/8) is never banned", "special-address"],
    ["broadcast", { address: "255.255.255.255" }, {}, "the broadcast address (255.255.255.255) is never banned", "special-address"],
    ["unspecified", { address: "::" }, {}, "the unspecified address (::) is never banned", "special-address"],
  ])("%s", (_n, s, v, reason, code) => {
    const p = arbitrate(signal(s), view(v), config, now);
    expect(p.puts).toEqual([]);
    expect(p.refusals[0]?.reason).toBe(reason);
    expect(p.refusals[0]?.code).toBe(code);
  });
});

describe("arbitrate: another spelling of a protected IPv4 address is that address (NAT64, 6to4, Teredo)", () => {
  // the fleet host 198.18.0.11 is c612:000b; the control plane 198.18.0.1 is c612:0001
  it.each<[string, Partial<ArbiterView>, string]>([
    ["64:ff9b::198.18.0.11", {}, "a fleet host: 198.18.0.11 in its NAT64 form"],
    ["64:ff9b::c612:1", {}, "the control plane: 198.18.0.1 in its NAT64 form"],
    ["64:ff9b:1:c612:0:b00::", {}, "a fleet host: 198.18.0.11 in its local NAT64 /48 form"],
    ["64:ff9b:1:7:8:9:c612:b", {}, "a fleet host: 198.18.0.11 in its local NAT64 /96 form"],
    ["2002:c612:b::1", {}, "a fleet host: 198.18.0.11 in its 6to4 form"],
    ["2001:0:4136:e378:8000:63bf:39ed:fff4", {}, "a fleet host: 198.18.0.11 in its Teredo form"],
    ["64:ff9b::c633:6409", {}, "a management network: 198.51.100.9 in its NAT64 form"],
    ["2002:cb00:7107::1", { allow: [parseCidr("203.0.113.0/24")] }, "allowlisted: 203.0.113.7 in its 6to4 form"],
    // IPv4-mapped is read as IPv4
    ["::ffff:198.18.0.11", {}, "a fleet host"],
  ])("%s is refused: %s", (address, v, reason) => {
    const p = arbitrate(signal({ address }), view(v), config, now);
    expect(p.puts).toEqual([]);
    expect(p.refusals[0]?.reason).toBe(reason);
    // counted under the code of the address it stands for
    expect(p.refusals[0]?.code).toBe(reason.startsWith("a fleet host") ? "fleet-host" : reason.startsWith("the control plane") ? "control-plane" : reason.startsWith("allowlisted") ? "allowlisted" : "management-network");
  });

  it.each(["64:ff9b::cb00:7107", "2002:cb00:7107::1", "64:ff9b:1:cb00:0:7100::"])("%s (203.0.113.7, not protected) is banned", (address) => {
    expect(arbitrate(signal({ address }), view(), config, now).puts).toHaveLength(1);
  });

  it("a network of a translated form is refused when it holds a protected address, by a quorum too", () => {
    expect(arbitrate(signal({ address: "64:ff9b::c612:0/120" }), view({ reporters: two }), config, now).refusals[0]?.reason).toBe("a fleet host: 198.18.0.0/24 in its NAT64 form");
    expect(arbitrate(signal({ address: "2002:c612:b::/48" }), view({ reporters: two }), config, now).refusals[0]?.reason).toBe("a fleet host: 198.18.0.11 in its 6to4 form");
    expect(arbitrate(signal({ address: "2002:cb00:7100::/48" }), view({ reporters: two }), config, now).puts).toHaveLength(1);
  });
});

describe("protectedReason", () => {
  const v = view({ hosts: [parseCidr("198.18.0.11"), parseCidr("2001:db8:12::7")] });
  it.each([
    ["0.0.0.0/0", "prefix /0 is broader than the minimum /16"],
    ["203.0.0.0/15", "prefix /15 is broader than the minimum /16"],
    ["2001:db8::/32", "prefix /32 is broader than the minimum /48"],
    ["198.18.0.0/16", "a fleet host"],
    // a network that holds a protected address is refused, as the address is: a /24, a /64 holding a host's /128
    ["198.18.0.0/24", "a fleet host"],
    ["2001:db8:12::/64", "a fleet host"],
    ["2001:db8:12::/48", "a fleet host"],
    ["64:ff9b::/96", "a fleet host: 0.0.0.0/0 in its NAT64 form"],
    ["64:ff9b::c612:0/112", "a fleet host: 198.18.0.0/16 in its NAT64 form"],
    // an operator may not ban them either
    ["fe80::/64", "link-local (fe80::/10) is never banned"],
    ["224.0.0.0/16", "multicast (224.0.0.0/4) is never banned"],
  ])("%s → %s", (cidr, reason) => expect(protectedReason(parseCidr(cidr), v, config)).toBe(reason));
  it("lets a /24 outside the fleet through", () => expect(protectedReason(parseCidr("203.0.113.0/24"), v, config)).toBeUndefined());
  it("lets an operator ban a management network, never a detection", () => {
    expect(protectedReason(parseCidr("198.51.100.9"), v, config)).toBeUndefined();
    expect(protectedReason(parseCidr("198.51.100.9"), v, config, true)).toBe("a management network");
  });
});
