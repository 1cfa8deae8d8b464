import { describe, expect, it } from "vitest";
import { parseCidr } from "./net.js";
import { specialAddressReason } from "./special-address.js";

describe("specialAddressReason", () => {
  it.each([
    ["0.0.0.0", "unspecified"],
    ["255.255.255.255", "broadcast"],
    ["127.0.0.1", "loopback"],
    ["127.8.0.0/16", "loopback"],
    ["224.0.0.251", "multicast"],
    ["239.255.255.250", "multicast"],
    ["169.254.169.254", "link-local"],
    ["::", "unspecified"],
    ["::1", "loopback"],
    ["ff02::1", "multicast"],
    ["fe80::1", "link-local"],
    ["fe80::/64", "link-local"],
    // a network that covers a special address is refused too
    ["0.0.0.0/16", "unspecified"],
    ["224.0.0.0/5", "multicast"],
  ])("%s is never banned (%s)", (text, what) => {
    expect(specialAddressReason(parseCidr(text))).toContain(what);
  });

  it.each(["203.0.113.7", "198.18.0.0/16", "2001:db8::1", "2001:db8::/48", "126.255.255.255", "240.0.0.1", "169.253.255.255", "fec0::1"])("%s may be banned", (text) => {
    expect(specialAddressReason(parseCidr(text))).toBeUndefined();
  });
});
