import { describe, expect, it } from "vitest";
import { parseCidr } from "@fleetwall/api";
import { BanMirror } from "./ban-mirror.js";
import { protectedReason } from "./arbiter.js";
import { MAX_HOST_ADDRESSES, MAX_MANAGEMENT_NETWORKS, Protection } from "./protection.js";
import { hostAddressRule, nodeAddresses } from "./host-networks.js";

const config = { minPrefix: { ip: 16, ip6: 48 }, protect: [parseCidr("198.18.0.1")] };
const protection = () => new Protection(config, new BanMirror());

describe("Protection", () => {
  it("takes a host's single addresses, at most MAX_HOST_ADDRESSES, and refuses networks", () => {
    const p = protection();
    const many = Array.from({ length: MAX_HOST_ADDRESSES + 6 }, (_, i) => `198.18.1.${i + 1}`);
    const refused = p.setHost("h", { addresses: ["::/0", "garbage", ...many] });
    expect(refused).toEqual([
      "address garbage: not an address",
      "address ::/0: a host registers single addresses, not networks",
      `${MAX_HOST_ADDRESSES + 6} addresses: only the first ${MAX_HOST_ADDRESSES} count`,
    ]);
    expect(p.view.hosts).toHaveLength(MAX_HOST_ADDRESSES);
    expect(p.check(parseCidr("203.0.113.7"))).toBeUndefined();
    expect(p.check(parseCidr("198.18.1.1"))).toBe("a fleet host (registered by h)");
    expect(p.check(parseCidr("198.18.1.70"))).toBeUndefined();
  });

  it("names the hosts that registered what an operator may not ban, in any form, so a bogus claim can be found and forgotten", () => {
    const p = protection();
    p.setHost("h2", { addresses: ["198.18.1.2", "2001:db8:12::2"] });
    p.setHost("h1", { addresses: ["198.18.1.1"] });
    p.setHost("h3", { addresses: ["198.18.1.3"] });
    p.setHost("h4", { addresses: ["198.18.1.4"] });
    expect(p.check(parseCidr("198.18.1.2"))).toBe("a fleet host (registered by h2)");
    expect(p.check(parseCidr("64:ff9b::198.18.1.1"))).toBe("a fleet host: 198.18.1.1 in its NAT64 form (registered by h1)");
    expect(p.check(parseCidr("2001:db8:12::/64"))).toBe("a fleet host (registered by h2)");
    expect(p.check(parseCidr("198.18.1.0/24"))).toBe("a fleet host (registered by h1, h2, h3 and 1 more)");
    p.setHost("h2", null);
    expect(p.check(parseCidr("198.18.1.2"))).toBeUndefined();
  });

  it("protects fleet-wide at most MAX_MANAGEMENT_NETWORKS management networks, none broader than a /24 or /56", () => {
    const p = protection();
    const nets = Array.from({ length: MAX_MANAGEMENT_NETWORKS + 1 }, (_, i) => `203.0.${i}.0/24`);
    expect(p.setHost("h", { addresses: [], managementSources: ["10.0.0.0/16", "2001:db8:1::/48", "2001:db8:2::/56", ...nets] })).toEqual([
      "management network 10.0.0.0/16: broader than /24, protected only on h (an Allow BanList protects it fleet-wide)",
      "management network 2001:db8:1::/48: broader than /56, protected only on h (an Allow BanList protects it fleet-wide)",
      `${MAX_MANAGEMENT_NETWORKS + 2} management networks: only the first ${MAX_MANAGEMENT_NETWORKS} protect fleet-wide, the others only on h`,
    ]);
    expect(p.view.management).toHaveLength(MAX_MANAGEMENT_NETWORKS);
    // a /16 claimed by one host does not shield its addresses from fleet bans
    expect(protectedReason(parseCidr("10.0.200.7"), p.view, config, true)).toBeUndefined();
    expect(protectedReason(parseCidr("2001:db8:2::9"), p.view, config, true)).toBe("a management network");
    expect(protectedReason(parseCidr("203.0.0.9"), p.view, config, true)).toBe("a management network");
  });

  it("protects only addresses inside the host networks and keeps the others as the host's refused addresses", () => {
    const p = new Protection({ ...config, hostAddresses: hostAddressRule(["198.18.1.0/24", "2001:db8:1::/64"]) }, new BanMirror());
    const refused = p.setHost("h", { addresses: ["198.18.1.5", "203.0.113.7", "fe80::1c2b:3aff:fe4d:5e6f", "2001:db8:1::5", "2001:db8:9::5", "203.0.113.0/24"] });
    expect(refused).toEqual([
      "address 203.0.113.0/24: a host registers single addresses, not networks",
      "address 203.0.113.7: outside the host networks (--host-networks): not protected",
      "address 2001:db8:9::5: outside the host networks (--host-networks): not protected",
    ]);
    expect(p.check(parseCidr("198.18.1.5"))).toBe("a fleet host (registered by h)");
    expect(p.check(parseCidr("2001:db8:1::5"))).toBe("a fleet host (registered by h)");
    expect(p.check(parseCidr("203.0.113.7"))).toBeUndefined();
    expect(p.check(parseCidr("2001:db8:9::5"))).toBeUndefined();
    // a link-local address is neither a refusal nor a host address: no one ever bans it
    expect(p.check(parseCidr("fe80::1c2b:3aff:fe4d:5e6f"))).toMatch(/link-local/);
    expect(p.fleetEntries()).toEqual(["198.18.0.1", "198.18.1.5", "2001:db8:1::5"]);
    expect(p.refusedAddresses.get("h")?.map((r) => r.address)).toEqual(["203.0.113.0/24", "203.0.113.7", "2001:db8:9::5"]);
    expect(p.refusedClaims).toBe(3);
    // an honest registration later clears them; a host that goes takes them along
    p.setHost("h", { addresses: ["198.18.1.5"] });
    expect(p.refusedAddresses.has("h")).toBe(false);
    p.setHost("h", { addresses: ["8.8.8.8"] });
    p.setHost("h", null);
    expect(p.refusedAddresses.size).toBe(0);
  });

  it("judges an IPv4-mapped address as the IPv4 address it is against the host networks", () => {
    const p = protection();
    p.setHost("h", { addresses: ["::ffff:8.8.4.4", "::ffff:198.18.1.9"] });
    expect(p.check(parseCidr("8.8.4.4"))).toBeUndefined();
    expect(p.check(parseCidr("198.18.1.9"))).toBe("a fleet host (registered by h)");
    expect(p.refusedAddresses.get("h")?.map((r) => r.address)).toEqual(["8.8.4.4"]);
    // its SIIT form (::ffff:0:a.b.c.d, RFC 6145) is the same host: a signal naming it is no fleet ban
    expect(p.check(parseCidr("::ffff:0:c612:109"))).toMatch(/registered by h/);
    expect(p.check(parseCidr("::ffff:0:808:404"))).toBeUndefined();
  });

  it("refuses public addresses without --host-networks, and counts the cap after the networks", () => {
    const p = protection();
    const many = Array.from({ length: MAX_HOST_ADDRESSES + 2 }, (_, i) => `10.0.0.${i + 1}`);
    p.setHost("h", { addresses: ["8.8.8.8", ...many] });
    expect(p.check(parseCidr("8.8.8.8"))).toBeUndefined();
    expect(p.view.hosts).toHaveLength(MAX_HOST_ADDRESSES);
    expect(p.refusedAddresses.get("h")?.map((r) => r.address)).toEqual(["8.8.8.8", "10.0.0.65", "10.0.0.66"]);
    expect(p.refusedAddresses.get("h")?.[2]?.reason).toBe(`more than ${MAX_HOST_ADDRESSES} addresses: not protected`);
  });

  it("judges a host that is a Kubernetes Node by the Node's addresses, again when the Node changes, whatever the networks", () => {
    const p = new Protection({ ...config, hostAddresses: hostAddressRule(["198.18.1.0/24"]) }, new BanMirror());
    p.setHost("web-1", { addresses: ["198.18.1.5", "198.18.1.99", "203.0.113.7"] });
    expect(p.refusedAddresses.get("web-1")?.map((r) => r.address)).toEqual(["203.0.113.7"]);
    const node = nodeAddresses("web.1", [{ type: "InternalIP", address: "198.18.1.5" }, { type: "ExternalIP", address: "203.0.113.7" }, { type: "Hostname", address: "198.18.1.99" }]);
    expect(p.setNode("web-1", node)).toEqual(["address 198.18.1.99: not an address of Node web.1 (its status.addresses): not protected"]);
    expect(p.check(parseCidr("198.18.1.99"))).toBeUndefined();
    // the Node's ExternalIP is the host's own, though outside --host-networks
    expect(p.check(parseCidr("203.0.113.7"))).toMatch(/^a fleet host/);
    expect(p.fleetEntries()).toEqual(["198.18.0.1", "198.18.1.5", "203.0.113.7"]);
    // the same Node again changes nothing; the Node gone, the networks judge again
    expect(p.setNode("web-1", nodeAddresses("web.1", [{ type: "InternalIP", address: "198.18.1.5" }, { type: "ExternalIP", address: "203.0.113.7" }]))).toBeUndefined();
    expect(p.refusedAddresses.get("web-1")?.map((r) => r.address)).toEqual(["198.18.1.99"]);
    expect(p.setNode("web-1", null)).toEqual(["address 203.0.113.7: outside the host networks (--host-networks): not protected"]);
    expect(p.check(parseCidr("198.18.1.99"))).toMatch(/^a fleet host/);
    // a Node whose host has not registered protects nothing yet
    expect(p.setNode("web-2", nodeAddresses("web-2", [{ type: "InternalIP", address: "198.18.1.6" }]))).toBeUndefined();
    expect(p.check(parseCidr("198.18.1.6"))).toBeUndefined();
    p.setHost("web-2", { addresses: ["198.18.1.6", "198.18.1.7"] });
    expect(p.refusedAddresses.get("web-2")?.map((r) => r.address)).toEqual(["198.18.1.7"]);
  });

  it("forgets a host that is gone, and keeps the control plane, static and resolved", () => {
    const p = protection();
    p.setHost("h", { addresses: ["198.18.1.5"] });
    p.setHost("h", null);
    expect(p.check(parseCidr("198.18.1.5"))).toBeUndefined();
    p.setResolved([parseCidr("198.18.0.9")]);
    expect(p.check(parseCidr("198.18.0.9"))).toBe("the control plane");
    expect(p.check(parseCidr("198.18.0.1"))).toBe("the control plane");
    p.setResolved([]);
    expect(p.check(parseCidr("198.18.0.9"))).toBeUndefined();
  });
});
