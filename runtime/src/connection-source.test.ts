import { describe, expect, it } from "vitest";
import { connectionSource } from "./connection-source.js";

describe("connectionSource", () => {
  it.each([
    ["198.18.0.7", "198.18.0.7"],
    ["::ffff:198.18.0.7", "198.18.0.7"],
    ["::FFFF:127.0.3.9", "127.0.3.9"],
    ["2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"],
    ["2001:db8:1:2::1", "2001:db8:1:2::/64"],
    ["fe80::1%eth0", "fe80::/64"],
    ["::1", "::/64"],
    [undefined, ""],
  ])("%s counts as %j", (address, source) => expect(connectionSource(address)).toBe(source));

  it("counts two addresses of one /64 as one source, and of two /64s as two", () => {
    expect(connectionSource("2001:db8:0:5::1")).toBe(connectionSource("2001:db8:0:5:ffff::9"));
    expect(connectionSource("2001:db8:0:5::1")).not.toBe(connectionSource("2001:db8:0:6::1"));
  });
});
