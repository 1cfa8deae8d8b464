import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { BUS_MESSAGE_BYTES, MAX_JSON_DEPTH, nestedDeeperThan, parseBusJson } from "./bus-json.js";
import { parseEnvelopeText } from "./envelope-text.js";
import { parseBanDecision } from "./ban-messages.js";

const nested = (depth: number) => `{"hostId":"h1","x":${"[".repeat(depth)}${"]".repeat(depth)}}`;

describe("parseBusJson", () => {
  it.each([
    ["a plain object", '{"a":[1,{"b":"c"}]}', "signal", true],
    ["nested to the limit", nested(MAX_JSON_DEPTH - 1), "report", true],
    ["one level past the limit", nested(MAX_JSON_DEPTH), "report", "too deep"],
    ["400,000 levels (the stalling flood)", nested(400_000), "envelope", "too deep"],
    ["brackets inside a string do not count", `{"x":"${"[".repeat(1000)}"}`, "report", true],
    ["an escaped quote does not end a string", `{"x":"\\"${"[".repeat(1000)}"}`, "report", true],
    ["a report over 64 KiB", JSON.stringify({ x: "a".repeat(BUS_MESSAGE_BYTES.report) }), "report", "too large"],
    ["a signal over 4 KiB", JSON.stringify({ x: "a".repeat(4096) }), "signal", "too large"],
    ["multi-byte text counted in bytes", JSON.stringify({ x: "é".repeat(2100) }), "signal", "too large"],
    ["not JSON", "{", "signal", "not JSON"],
  ] as const)("%s", (_name, text, kind, expected) => {
    for (const data of [text, new TextEncoder().encode(text)]) {
      const r = parseBusJson(data, kind);
      if (expected === true) expect(r).toEqual({ ok: true, value: JSON.parse(text) });
      else expect(r).toEqual({ ok: false, reason: expected });
    }
  });

  it("the depth scan agrees with JSON.parse on any JSON value", () => {
    const depthOf = (v: unknown): number => (v && typeof v === "object" ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0);
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: 8 }), (v, max) => {
        expect(nestedDeeperThan(JSON.stringify(v), max)).toBe(depthOf(v) > max);
      }),
    );
  });

  it("envelopes and decisions read from the bus are refused unparsed when nested too deep", () => {
    expect(parseEnvelopeText(nested(10_000))).toEqual({ success: false, error: "not JSON" });
    expect(parseBanDecision(nested(10_000))).toBeUndefined();
  });
});
