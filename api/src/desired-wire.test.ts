import { deflateRawSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { framedEnvelopeBytes, openEnvelopeBytes, parseEnvelopeBytes } from "./desired-wire.js";
import { parseEnvelopeText } from "./envelope-text.js";

const head = { schemaVersion: 1 as const, keyId: "k1", signature: "c2ln", digest: "sha256" as const };
const payload = JSON.stringify({ hostId: "w1", addresses: Array.from({ length: 5000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`) });
const dec = new TextDecoder();

describe("desired states on the wire: plain or deflated inside the framed envelope", () => {
  it("a plain payload is the framed text, read as it is", () => {
    const bytes = framedEnvelopeBytes(head, { text: payload });
    expect(dec.decode(bytes)).toBe(`${JSON.stringify(head)}\n${payload}`);
    expect(openEnvelopeBytes(bytes)).toEqual({ ok: true, text: dec.decode(bytes), inflated: false });
  });

  it("a deflated payload comes back as the framed text that was signed, without the encoding", () => {
    const bytes = framedEnvelopeBytes(head, { deflated: deflateRawSync(payload) });
    expect(bytes.length).toBeLessThan(payload.length / 3);
    const env = parseEnvelopeBytes(bytes);
    expect(env).toEqual({ success: true, data: { ...head, payload } });
  });

  it("reads a payload deflated in pieces: a shared part ending in a sync flush, then a host's own part", () => {
    const [shared, own] = [payload.slice(0, 40_000), payload.slice(40_000)];
    const deflated = Buffer.concat([deflateRawSync(shared, { finishFlush: 2 /* Z_SYNC_FLUSH */ }), deflateRawSync(own)]);
    const env = parseEnvelopeBytes(framedEnvelopeBytes(head, { deflated }));
    expect(env.success && env.data.payload).toBe(payload);
  });

  it("refuses a payload that inflates past the bound (a zip bomb), saying so", () => {
    const bomb = framedEnvelopeBytes(head, { deflated: deflateRawSync(Buffer.alloc(8 * 1024 * 1024, 0x20)) });
    expect(bomb.length).toBeLessThan(16 * 1024);
    const opened = openEnvelopeBytes(bomb, 1024 * 1024);
    expect(opened).toEqual({ ok: false, reason: "compressed payload inflates past 1048576 bytes: refused", inflatesPast: 1024 * 1024 });
    expect(openEnvelopeBytes(bomb, 16 * 1024 * 1024).ok).toBe(true);
  });

  it.each([
    ["bytes that are not deflate", new Uint8Array([1, 2, 3, 4, 5]), "compressed payload does not inflate"],
    ["a cut stream", deflateRawSync(payload).subarray(0, 100), "compressed payload does not inflate"],
  ])("refuses %s", (_, body, reason) => {
    expect(openEnvelopeBytes(framedEnvelopeBytes(head, { deflated: body }))).toEqual({ ok: false, reason });
  });

  it("a deflated envelope read as text is refused, not taken for a payload", () => {
    const text = dec.decode(framedEnvelopeBytes(head, { deflated: deflateRawSync(payload) }));
    expect(parseEnvelopeText(text).success).toBe(false);
    expect(parseEnvelopeText(JSON.stringify({ ...head, encoding: "deflate-raw", payload })).success).toBe(false);
  });

  it("a head that claims the encoding but is no envelope is refused", () => {
    const bytes = new TextEncoder().encode('{"encoding":"deflate-raw"}\nxyz');
    expect(openEnvelopeBytes(bytes)).toEqual({ ok: false, reason: "not a signed envelope of a known schemaVersion" });
  });
});
