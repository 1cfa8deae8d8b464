import { describe, expect, it } from "vitest";
import { framedEnvelopeText, parseEnvelopeText } from "./envelope-text.js";

const fields = { schemaVersion: 1 as const, keyId: "k1", signature: "c2ln", digest: "sha256" as const };

describe("envelope text", () => {
  it.each([
    ["a JSON payload", '{"hostId":"h1","ruleset":{"policies":[]}}'],
    ["a payload with newlines, quotes and backslashes", '{\n  "a": "x\\"y\\\\z"\n}\n'],
    ["an empty payload", ""],
  ])("framed, gives back %s exactly", (_, payload) => {
    const parsed = parseEnvelopeText(framedEnvelopeText(fields, payload));
    expect(parsed).toEqual({ success: true, data: { ...fields, payload } });
  });

  it.each([
    ["on one line", JSON.stringify({ ...fields, payload: '{"a":1}' })],
    ["pretty-printed", JSON.stringify({ ...fields, payload: '{"a":1}' }, null, 2)],
  ])("one JSON object %s is read as before framing", (_, text) => {
    expect(parseEnvelopeText(text)).toEqual({ success: true, data: { ...fields, payload: '{"a":1}' } });
  });

  it.each([
    ["not JSON", "hello", "not JSON"],
    ["a framed head that is not JSON", '{"schemaVersion":1,\n{"a":1}', "not JSON"],
    ["a head of an unknown schemaVersion", framedEnvelopeText({ ...fields, schemaVersion: 9 as unknown as 1 }, "{}"), "not a signed envelope of a known schemaVersion"],
    ["a head without a signature", `${JSON.stringify({ schemaVersion: 1, keyId: "k1" })}\n{}`, "not a signed envelope of a known schemaVersion"],
    ["a JSON array", "[1,2]\n{}", "not JSON"],
  ])("%s is refused", (_, text, error) => {
    expect(parseEnvelopeText(text)).toEqual({ success: false, error });
  });
});
