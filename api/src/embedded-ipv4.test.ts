import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { describe, expect, it } from "vitest";
import { embeddedIPv4 } from "./embedded-ipv4.js";
import { parseCidr } from "./net.js";

const of = (text: string) => embeddedIPv4(parseCidr(text)).map((e) => `${e.what} ${e.v4.text}`);

describe("embeddedIPv4: the IPv4 address an IPv6 form stands for", () => {
  it.each<[string, string[]]>([
    // 198.18.0.11 is c612:000b
    ["64:ff9b::198.18.0.11", ["NAT64 198.18.0.11"]],
    ["64:ff9b::c612:b", ["NAT64 198.18.0.11"]],
    ["64:ff9b::c612:0/120", ["NAT64 198.18.0.0/24"]],
    ["64:ff9b::/96", ["NAT64 0.0.0.0/0"]],
    // a network that holds the whole range stands for every IPv4 address it can carry
    ["64:ff9b::/64", ["NAT64 0.0.0.0/0"]],
    ["2002:c612:b::/48", ["6to4 198.18.0.11"]],
    ["2002:c612:b:1::7", ["6to4 198.18.0.11"]],
    ["2002:c612::/32", ["6to4 198.18.0.0/16"]],
    // Teredo: the client's address, inverted, in the last 32 bits (server 65.54.227.120)
    ["2001:0:4136:e378:8000:63bf:39ed:fff4", ["Teredo 198.18.0.11"]],
    ["2001:0:4136:e378::/64", ["Teredo 0.0.0.0/0"]],
    // RFC 8215's local-use prefix: each RFC 6052 layout is a candidate
    ["64:ff9b:1:c612:0:b00::", ["local NAT64 /48 198.18.0.11", "local NAT64 /56 18.0.11.0", "local NAT64 /64 0.11.0.0", "local NAT64 /96 0.0.0.0"]],
    ["64:ff9b:1:abcd:c6:1200:b00:0", ["local NAT64 /48 171.205.198.18", "local NAT64 /56 205.198.18.0", "local NAT64 /64 198.18.0.11", "local NAT64 /96 11.0.0.0"]],
    ["64:ff9b:1:1:2:3:c612:b", ["local NAT64 /48 0.1.2.0", "local NAT64 /56 1.2.0.3", "local NAT64 /64 2.0.3.198", "local NAT64 /96 198.18.0.11"]],
    // SIIT (RFC 6145): ::ffff:0:a.b.c.d, an IPv4-translated address; 198.19.200.12 is c613:c80c
    ["::ffff:0:c613:c80c", ["SIIT 198.19.200.12"]],
    ["::ffff:0:198.19.200.12", ["SIIT 198.19.200.12"]],
    ["0:0:0:0:ffff:0:c613:c80c", ["SIIT 198.19.200.12"]],
    ["::ffff:0:c612:0/120", ["SIIT 198.18.0.0/24"]],
    ["::ffff:0:0:0/96", ["SIIT 0.0.0.0/0"]],
    ["::/64", ["SIIT 0.0.0.0/0"]],
    ["64:ff9b:1::/48", ["local NAT64 /48 0.0.0.0/0", "local NAT64 /56 0.0.0.0/0", "local NAT64 /64 0.0.0.0/0", "local NAT64 /96 0.0.0.0/0"]],
  ])("%s → %j", (text, want) => expect(of(text)).toEqual(want));

  it.each(["198.18.0.11", "::1", "::", "::fffe:0:c612:b", "::1:ffff:0:c612:b", "2001:db8::11", "2001:db8:12::/64", "fe80::1", "64:ff9a::c612:b"])("%s carries none", (text) => expect(of(text)).toEqual([]));

  it.each([
    ["0064:FF9B:0000::C612:000B", ["NAT64 198.18.0.11"]],
    ["2001:0000:4136:e378:8000:63bf:39ed:fff4", ["Teredo 198.18.0.11"]],
    ["2001:0:0:0:0:0:39ed:fff4", ["Teredo 198.18.0.11"]],
    ["2002:0:0:0:0:0:0:1", ["6to4 0.0.0.0"]],
    // broad networks that hold a range, whatever their text starts with
    ["2000::/3", ["6to4 0.0.0.0/0", "Teredo 0.0.0.0/0"]],
    ["::/0", ["NAT64 0.0.0.0/0", "local NAT64 /48 0.0.0.0/0", "local NAT64 /56 0.0.0.0/0", "local NAT64 /64 0.0.0.0/0", "local NAT64 /96 0.0.0.0/0", "6to4 0.0.0.0/0", "Teredo 0.0.0.0/0", "SIIT 0.0.0.0/0"]],
    ["64:ff9b::/32", ["NAT64 0.0.0.0/0", "local NAT64 /48 0.0.0.0/0", "local NAT64 /56 0.0.0.0/0", "local NAT64 /64 0.0.0.0/0", "local NAT64 /96 0.0.0.0/0"]],
  ])("%s, however written → %j", (text, want) => expect(of(text)).toEqual(want));

  it("IPv4-mapped addresses are read as IPv4 already", () => {
    expect(parseCidr("::ffff:198.18.0.11").text).toBe("198.18.0.11");
    expect(of("::ffff:198.18.0.11")).toEqual([]);
  });
});

describe("embeddedIPv4, for any IPv4 address", () => {
  const v6 = (bytes: number[]) => parseCidr(ipaddr.fromByteArray(bytes).toString());
  it("finds it back in its NAT64, 6to4, Teredo and SIIT forms", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 10, maxLength: 10 }), (v4, noise) => {
        const want = ipaddr.fromByteArray(v4).toString();
        const nat64 = [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, ...v4];
        const sixToFour = [0x20, 0x02, ...v4, ...noise];
        const teredo = [0x20, 0x01, 0, 0, ...noise.slice(0, 8), ...v4.map((b) => 255 - b)];
        const local96 = [0, 0x64, 0xff, 0x9b, 0, 1, ...noise.slice(0, 6), ...v4];
        const siit = [0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, ...v4];
        for (const [bytes, what] of [[nat64, "NAT64"], [sixToFour, "6to4"], [teredo, "Teredo"], [local96, "local NAT64 /96"], [siit, "SIIT"]] as const) {
          expect(embeddedIPv4(v6(bytes)).find((e) => e.what === what)?.v4.text).toBe(want);
        }
      }),
    );
  });
});
