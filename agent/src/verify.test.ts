import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { deflateRawSync } from "node:zlib";
import { SCHEMA_VERSION, envelopeText, framedEnvelopeBytes, framedEnvelopeText, generateSigningKeyPem, type EnvelopeHead, loadSigningKey, newDecision, sealPayloads, signPayload, type DesiredState } from "@fleetwall/api";
import { DecisionReader, verifyDecision, verifyDesired, verifySeal } from "./verify.js";

const controller = loadSigningKey(generateSigningKeyPem().privatePem);
const intruder = loadSigningKey(generateSigningKeyPem().privatePem);
const state = (over: Partial<DesiredState> = {}): DesiredState => ({
  schemaVersion: SCHEMA_VERSION,
  hostId: "web-1",
  revision: 5,
  hash: "h",
  policies: [],
  ruleset: { baseline: { loopback: true, established: true, dropInvalid: true, badTcpFlags: true }, policies: [], defaultInput: { verdict: "accept" }, defaultOutput: { verdict: "accept" } },
  jails: [],
  ...over,
});
const signed = (s: unknown, key = controller) => JSON.stringify(signPayload(key, JSON.stringify(s)));
const opts = { hostId: "web-1", trustedKey: controller.publicKeyPem, appliedRevision: 4 };

describe("verifyDesired", () => {
  it("accepts a state signed by the trusted key", () => {
    expect(verifyDesired(signed(state()), opts)).toMatchObject({ ok: true, state: { revision: 5 } });
  });

  it.each<[string, string, string]>([
    ["garbage", "not json {", "not JSON"],
    ["unsigned", JSON.stringify({ schemaVersion: 1, keyId: "x", payload: JSON.stringify(state()), signature: "" }), "bad signature"],
    ["forged (another key)", signed(state(), intruder), "bad signature"],
    ["tampered payload", JSON.stringify({ ...JSON.parse(signed(state())), payload: JSON.stringify(state({ revision: 99 })) }), "bad signature"],
    ["for another host", signed(state({ hostId: "web-2" })), "for host web-2"],
    ["replayed older revision", signed(state({ revision: 3 })), "replayed revision 3"],
    ["unknown envelope schemaVersion", JSON.stringify({ ...JSON.parse(signed(state())), schemaVersion: 2 }), "known schemaVersion"],
    ["unknown payload schemaVersion", signed({ ...state(), schemaVersion: 9 }), "known schemaVersion"],
  ])("drops %s", (_what, data, reason) => {
    const r = verifyDesired(data, opts);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(reason);
  });

  it("one revision names one state: the applied revision is accepted again only with the applied hash", () => {
    const at5 = { ...opts, appliedRevision: 5, appliedHash: "h" };
    expect(verifyDesired(signed(state({ revision: 5 })), at5)).toMatchObject({ ok: true });
    expect(verifyDesired(signed(state({ revision: 5, hash: "other" })), at5)).toMatchObject({ ok: false, reason: expect.stringContaining("two states under one revision") });
    expect(verifyDesired(signed(state({ revision: 6, hash: "other" })), at5)).toMatchObject({ ok: true });
    expect(verifyDesired(signed(state({ revision: 4 })), at5)).toMatchObject({ ok: false, older: true });
    // nothing applied yet (a fresh host): any revision
    expect(verifyDesired(signed(state({ revision: 1, hash: "x" })), { ...opts, appliedRevision: 0 })).toMatchObject({ ok: true });
  });

  it("with no trusted key, accepts the offered key (to be pinned) — and after pinning refuses others", () => {
    const first = verifyDesired(signed(state()), { ...opts, trustedKey: undefined });
    expect(first).toMatchObject({ ok: true, publicKey: controller.publicKeyPem });
    const pinned = first.ok ? first.publicKey : "";
    expect(verifyDesired(signed(state(), intruder), { ...opts, trustedKey: pinned }).ok).toBe(false);
  });
});

describe("verifyDesired on a deflated state (as big states travel)", () => {
  const deflatedOf = (text: string, payload = text.slice(text.indexOf("\n") + 1)) => framedEnvelopeBytes(JSON.parse(text.slice(0, text.indexOf("\n"))) as Omit<EnvelopeHead, "encoding">, { deflated: deflateRawSync(payload) });

  it("inflates, verifies, and hands back the text as signed (what the agent saves)", () => {
    const text = envelopeText(signPayload(controller, JSON.stringify(state())));
    expect(verifyDesired(deflatedOf(text), opts)).toMatchObject({ ok: true, state: { revision: 5 }, text });
  });

  it("refuses a payload that inflates past the bound without reading it, and says it was a bomb", () => {
    const text = envelopeText(signPayload(controller, JSON.stringify(state({ hash: "x".repeat(300_000) }))));
    expect(verifyDesired(deflatedOf(text), { ...opts, maxBytes: 100_000 })).toEqual({ ok: false, reason: "compressed payload inflates past 100000 bytes: refused", inflatesPast: 100_000 });
    expect(verifyDesired(deflatedOf(text), opts).ok).toBe(true);
  });

  it("refuses a deflated payload changed in transit", () => {
    const text = envelopeText(signPayload(controller, JSON.stringify(state())));
    const forged = deflatedOf(text, JSON.stringify(state({ revision: 6 })));
    expect(verifyDesired(forged, opts)).toEqual({ ok: false, reason: "bad signature" });
  });
});

describe("sealed ban decisions", () => {
  const decision = (cidr: string) => JSON.stringify({ schemaVersion: 1, list: "bulk", type: "Deny", cidr, createdAt: "2026-11-27T00:00:00Z", expiresAt: null, source: "cli" });
  const { seal, envelopes } = sealPayloads(controller, "s1", [decision("2001:db8::1"), decision("2001:db8::2")]);
  const sealData = JSON.stringify(seal);

  it("accepts a decision covered by a verified seal", () => {
    const s = verifySeal(sealData, controller.publicKeyPem);
    expect(s).toMatchObject({ ok: true, seal: { id: "s1" } });
    const seals = new Map([["s1", new Set(s.ok ? s.seal.hashes : [])]]);
    expect(verifyDecision(JSON.stringify(envelopes[1]), controller.publicKeyPem, seals)).toMatchObject({ ok: true, decision: { cidr: "2001:db8::2" } });
  });

  it("refuses a seal by another key, an unknown seal, and a payload the seal does not cover", () => {
    const forged = sealPayloads(intruder, "s1", [decision("203.0.113.66")]);
    expect(verifySeal(JSON.stringify(forged.seal), controller.publicKeyPem).ok).toBe(false);
    expect(verifyDecision(JSON.stringify(envelopes[0]), controller.publicKeyPem, new Map())).toMatchObject({ ok: false, reason: "unknown seal s1" });
    const s = verifySeal(sealData, controller.publicKeyPem);
    const seals = new Map([["s1", new Set(s.ok ? s.seal.hashes : [])]]);
    const tampered = { ...envelopes[0], payload: decision("203.0.113.66") };
    expect(verifyDecision(JSON.stringify(tampered), controller.publicKeyPem, seals)).toMatchObject({ ok: false, reason: "payload not covered by its seal" });
    // a forged envelope that claims the real seal cannot smuggle another payload in either
    expect(verifyDecision(JSON.stringify(forged.envelopes[0]), controller.publicKeyPem, seals).ok).toBe(false);
  });
});

describe("DecisionReader (decisions as the bucket delivers them)", () => {
  const decision = (cidr: string) => JSON.stringify({ schemaVersion: 1, list: "bulk", type: "Deny", cidr, createdAt: "2026-11-27T00:00:00Z", expiresAt: null, source: "cli" });
  const s1 = sealPayloads(controller, "s1", [decision("2001:db8::1"), decision("203.0.113.7")]);
  const s2 = sealPayloads(controller, "s2", [decision("2001:db8::2")]);
  const seals = new Map(
    [s1, s2].map(({ seal }) => {
      const v = verifySeal(envelopeText(seal), controller.publicKeyPem);
      if (!v.ok) throw new Error(v.reason);
      return [v.seal.id, new Set(v.seal.hashes)] as const;
    }),
  );
  const enc = new TextEncoder();
  const bytes = (text: string) => enc.encode(text);
  const [a, b] = s1.envelopes as [typeof s1.envelopes[0], typeof s1.envelopes[0]];
  const c = s2.envelopes[0] as typeof a;
  const { payload: _, ...head } = a;
  const odd = sealPayloads(controller, "s3", ['{"schemaVersion":1}']);
  seals.set("s3", new Set((verifySeal(envelopeText(odd.seal), controller.publicKeyPem) as { seal: { hashes: string[] } }).seal.hashes));
  // what is read, and whether it is accepted
  const samples: [string, string, boolean][] = [
    ["framed, under seal s1", envelopeText(a), true],
    ["framed, the next of the same seal", envelopeText(b), true],
    ["framed, under another seal", envelopeText(c), true],
    ["framed, a payload of seal s2's under seal s1", framedEnvelopeText(head, c.payload), false],
    ["framed, payload the seal does not cover", framedEnvelopeText(head, decision("203.0.113.66")), false],
    ["framed, naming a seal not known", framedEnvelopeText({ ...head, seal: "s9" }, a.payload), false],
    ["framed, head of an unknown schemaVersion", framedEnvelopeText({ ...head, schemaVersion: 2 as unknown as 1 }, a.payload), false],
    ["framed, signed alone", envelopeText(signPayload(controller, decision("2001:db8::3"))), true],
    ["framed, signed alone by another key", envelopeText(signPayload(intruder, decision("2001:db8::3"))), false],
    ["one JSON object, under a seal", JSON.stringify(a), true],
    ["one JSON object, signed alone", JSON.stringify(signPayload(controller, decision("2001:db8::4"))), true],
    ["framed, covered payload that is not a decision", envelopeText(odd.envelopes[0] as typeof a), false],
    ["garbage", "not json {\n}", false],
  ];

  it("gives what verifyDecision gives for the same text, in any order (the head it keeps is the right one)", () => {
    const expected = new Map(samples.map(([, text]) => [text, verifyDecision(text, controller.publicKeyPem, seals)]));
    expect(samples.map(([, text]) => expected.get(text)?.ok)).toEqual(samples.map(([, , ok]) => ok));
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...samples.map(([, text]) => text)), { minLength: 1, maxLength: 30 }), (texts) => {
        const reader = new DecisionReader();
        for (const text of texts) expect(reader.read(bytes(text), controller.publicKeyPem, seals)).toEqual(expected.get(text));
      }),
    );
  });

  it.each(samples)("%s: the same verdict as verifyDecision", (_what, text, ok) => {
    expect(new DecisionReader().read(bytes(text), controller.publicKeyPem, seals).ok).toBe(ok);
    expect(new DecisionReader().read(bytes(text), controller.publicKeyPem, seals)).toEqual(verifyDecision(text, controller.publicKeyPem, seals));
  });

  it("hashes the bytes as they came: any changed byte is refused as verifyDecision refuses it", () => {
    const original = bytes(envelopeText(b));
    const reader = new DecisionReader();
    fc.assert(
      fc.property(fc.nat(original.length - 1), fc.integer({ min: 1, max: 255 }), (at, delta) => {
        const changed = original.slice();
        changed[at] = ((changed[at] as number) + delta) % 256;
        const got = reader.read(changed, controller.publicKeyPem, seals);
        expect(got).toEqual(verifyDecision(new TextDecoder().decode(changed), controller.publicKeyPem, seals));
        // a changed payload byte never passes (a changed head byte may still name the same seal)
        if (at > original.indexOf(10)) expect(got.ok).toBe(false);
      }),
    );
  });

  it("refuses everything without a trusted key", () => {
    expect(new DecisionReader().read(bytes(envelopeText(a)), undefined, seals)).toEqual({ ok: false, reason: "no trusted controller key yet" });
  });
});

describe("DecisionReader refuses replayed decisions", () => {
  const issued = Date.parse("2026-11-27T12:00:00Z");
  const decision = { ...newDecision({ list: "cli", cidr: "203.0.113.7", createdAtMs: issued, expiresAtMs: null, source: "cli" }), issuedAt: new Date(issued).toISOString() };
  const bytes = (d: unknown) => new TextEncoder().encode(envelopeText(signPayload(controller, JSON.stringify(d))));
  const read = (d: unknown, storedAtMs?: number) => new DecisionReader().read(bytes(d), controller.publicKeyPem, new Map(), storedAtMs);

  it("accepts one stored as it was signed, or when the storage time is unknown", () => {
    expect(read(decision, issued + 50)).toMatchObject({ ok: true });
    expect(read(decision)).toMatchObject({ ok: true });
  });

  it("refuses a lifted or superseded decision put back long after it was signed", () => {
    expect(read(decision, issued + 3600_000)).toEqual({ ok: false, reason: "replayed: issued 2026-11-27T12:00:00.000Z, stored 3600 s later" });
  });

  it("refuses a sealed decision put back the same way", () => {
    const { seal, envelopes } = sealPayloads(controller, "s1", [JSON.stringify(decision)]);
    const seals = new Map([["s1", new Set(JSON.parse(seal.payload).hashes as string[])]]);
    const data = new TextEncoder().encode(envelopeText(envelopes[0] as never));
    expect(new DecisionReader().read(data, controller.publicKeyPem, seals, issued + 10_000)).toMatchObject({ ok: true });
    expect(new DecisionReader().read(data, controller.publicKeyPem, seals, issued + 600_000)).toMatchObject({ ok: false, reason: expect.stringMatching(/^replayed/) });
  });
});
