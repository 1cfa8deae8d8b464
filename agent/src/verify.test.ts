import { describe, expect, it } from "vitest";
import { SCHEMA_VERSION, generateSigningKeyPem, loadSigningKey, sealPayloads, signPayload, type DesiredState } from "@fleetwall/api";
import { verifyDecision, verifyDesired, verifySeal } from "./verify.js";

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

  it("with no trusted key, accepts the offered key (to be pinned) — and after pinning refuses others", () => {
    const first = verifyDesired(signed(state()), { ...opts, trustedKey: undefined });
    expect(first).toMatchObject({ ok: true, publicKey: controller.publicKeyPem });
    const pinned = first.ok ? first.publicKey : "";
    expect(verifyDesired(signed(state(), intruder), { ...opts, trustedKey: pinned }).ok).toBe(false);
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
