import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { banKey } from "@fleetwall/api";
import { elementOfKey, keyNamesElement, rememberingParse } from "./bans-decision.js";

describe("bucket keys that name their element", () => {
  it("names addresses and IPv4 networks, and not IPv6 networks, whose '/' is ambiguous", () => {
    expect(elementOfKey(banKey("l", "203.0.113.7"))).toBe("203.0.113.7");
    expect(elementOfKey(banKey("l", "203.0.113.0/24"))).toBe("203.0.113.0/24");
    expect(elementOfKey(banKey("l", "2001:db8::7"))).toBe("2001:db8::7");
    expect(elementOfKey(banKey("l", "2001:db8::/32"))).not.toBe("2001:db8::/32");
  });

  it("keyNamesElement answers exactly as comparing with elementOfKey, for bucket keys and for any text", () => {
    const cidr = fc.oneof(
      fc.ipV4(),
      fc.ipV6(),
      fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([a, p]) => `${a}/${p}`),
      fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })).map(([a, p]) => `${a}/${p}`),
    );
    const list = fc.stringMatching(/^[a-z0-9][-a-z0-9.]{0,12}$/);
    const key = fc.oneof(fc.tuple(list, cidr).map(([l, c]) => banKey(l, c)), fc.string(), fc.stringMatching(/^[a-z._:\/0-9]{0,20}$/));
    const element = fc.oneof(cidr, fc.string(), fc.stringMatching(/^[a-z._:\/0-9]{0,20}$/));
    // a key against its own element, and against unrelated text
    fc.assert(fc.property(list, cidr, (l, c) => keyNamesElement(banKey(l, c), c) === (elementOfKey(banKey(l, c)) === c)), { numRuns: 2000 });
    fc.assert(fc.property(key, element, (k, e) => keyNamesElement(k, e) === (elementOfKey(k) === e)), { numRuns: 2000 });
    fc.assert(fc.property(key, (k) => keyNamesElement(k, elementOfKey(k))), { numRuns: 2000 });
  });
});

describe("rememberingParse", () => {
  it("gives what Date.parse gives, for any sequence of times with repeats", () => {
    const time = fc.oneof(
      fc.date({ min: new Date("2000-01-01"), max: new Date("2100-01-01"), noInvalidDate: true }).map((d) => d.toISOString()),
      fc.string({ maxLength: 30 }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(time, fc.nat(3)), { maxLength: 40 }), (runs) => {
        const parse = rememberingParse();
        for (const [text, repeats] of runs) for (let i = 0; i <= repeats; i += 1) expect(parse(text)).toEqual(Date.parse(text));
      }),
    );
  });
});
