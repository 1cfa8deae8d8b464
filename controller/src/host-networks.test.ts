import { describe, expect, it } from "vitest";
import { parseCidr } from "@fleetwall/api";
import { DEFAULT_HOST_NETWORKS, hostAddressRule, judgeHostAddresses, nodeAddresses } from "./host-networks.js";

const judge = (flag: string[] | undefined, addresses: string[]) => {
  const r = judgeHostAddresses(addresses.map(parseCidr), hostAddressRule(flag));
  return { own: r.own.map((c) => c.text), refused: r.refused.map((x) => x.address) };
};

describe("a host's own addresses", () => {
  it.each([
    // without the flag: the ranges not routed on the internet
    [undefined, "10.1.2.3", true],
    [undefined, "172.31.255.1", true],
    [undefined, "172.32.0.1", false],
    [undefined, "192.168.7.7", true],
    [undefined, "100.64.0.9", true],
    [undefined, "198.18.3.4", true],
    [undefined, "198.19.255.254", true],
    [undefined, "198.20.0.1", false],
    [undefined, "8.8.8.8", false],
    [undefined, "1.1.1.1", false],
    [undefined, "fd00::5", true],
    [undefined, "2001:db8:7::1", true],
    [undefined, "2a00:1450::1", false],
    // an IPv4 address written as IPv6 is judged as the IPv4 address it is
    [undefined, "::ffff:8.8.8.8", false],
    [undefined, "::ffff:10.1.2.3", true],
    // with the flag, only its networks: the defaults no longer count
    [["198.18.5.0/24"], "198.18.5.9", true],
    [["198.18.5.0/24"], "198.18.6.9", false],
    [["198.18.5.0/24"], "10.0.0.1", false],
    [["198.18.5.0/24", "2001:db8:5::/64"], "2001:db8:5::9", true],
    [["198.18.5.0/24", "2001:db8:5::/64"], "2001:db8:6::9", false],
    [["0.0.0.0/0"], "8.8.8.8", true],
    [["0.0.0.0/0"], "2a00:1450::1", false],
    [["203.0.113.7/32"], "203.0.113.7", true],
  ])("with --host-networks %j, %s is the host's own: %s", (flag, address, own) => {
    const r = judge(flag, [address]);
    const text = parseCidr(address).text;
    expect(r.own).toEqual(own ? [text] : []);
    expect(r.refused).toEqual(own ? [] : [text]);
  });

  it("keeps the order of the registration and says which rule refused", () => {
    const explicit = judgeHostAddresses(["8.8.8.8", "198.18.5.1", "203.0.113.9", "198.18.5.2"].map(parseCidr), hostAddressRule(["198.18.5.0/24"]));
    expect(explicit.own.map((c) => c.text)).toEqual(["198.18.5.1", "198.18.5.2"]);
    expect(explicit.refused).toEqual([
      { address: "8.8.8.8", reason: "outside the host networks (--host-networks)" },
      { address: "203.0.113.9", reason: "outside the host networks (--host-networks)" },
    ]);
    expect(judgeHostAddresses([parseCidr("8.8.8.8")], hostAddressRule([])).refused[0]?.reason).toMatch(/^outside the default host networks/);
  });

  it("has a default made only of ranges that are not routed on the internet", () => {
    expect(hostAddressRule(undefined)).toEqual({ networks: DEFAULT_HOST_NETWORKS.map(parseCidr), explicit: false });
    expect(hostAddressRule([]).explicit).toBe(false);
  });

  it("takes a Node's InternalIP and ExternalIP addresses, nothing else", () => {
    const n = nodeAddresses("a.b", [
      { type: "InternalIP", address: "10.0.0.5" },
      { type: "InternalIP", address: "fd00::5" },
      { type: "ExternalIP", address: "8.8.8.8" },
      { type: "Hostname", address: "10.0.0.6" },
      { type: "InternalDNS", address: "a.b.internal" },
      { type: "InternalIP", address: "not-an-address" },
      { type: "InternalIP", address: "10.0.0.0/24" },
      { type: "InternalIP" },
    ]);
    expect(n.node).toBe("a.b");
    expect(n.addresses.map((c) => c.text)).toEqual(["10.0.0.5", "fd00::5", "8.8.8.8"]);
    expect(nodeAddresses("x", undefined).addresses).toEqual([]);
    const judged = judgeHostAddresses(["10.0.0.5", "8.8.8.8", "10.0.0.7"].map(parseCidr), hostAddressRule(["10.0.0.0/8"]), n);
    expect(judged.own.map((c) => c.text)).toEqual(["10.0.0.5", "8.8.8.8"]);
    expect(judged.refused).toEqual([{ address: "10.0.0.7", reason: "not an address of Node a.b (its status.addresses)" }]);
  });
});
