import { describe, expect, it } from "vitest";
import { generateSigningKeyPem, loadSigningKey, signPayload } from "@fleetwall/api";
import { LiftVerifier } from "./lift.js";

const controller = loadSigningKey(generateSigningKeyPem().privatePem);
const intruder = loadSigningKey(generateSigningKeyPem().privatePem);
const T0 = Date.parse("2026-12-01T00:00:00Z");
const order = (over: Record<string, unknown> = {}, key = controller) =>
  JSON.stringify(signPayload(key, JSON.stringify({ schemaVersion: 1, hostId: "h1", address: "203.0.113.5", at: new Date(T0).toISOString(), ...over })));

describe("LiftVerifier", () => {
  it("accepts a recent order for this host signed by the controller, once", () => {
    const v = new LiftVerifier("h1", () => T0 + 1000);
    const o = order();
    expect(v.verify(o, controller.publicKeyPem)).toMatchObject({ ok: true, lift: { address: "203.0.113.5" } });
    expect(v.verify(o, controller.publicKeyPem)).toEqual({ ok: false, reason: "replayed" });
  });

  it.each([
    ["signed by another key", order({}, intruder), "bad signature"],
    ["for another host", order({ hostId: "h2" }), "for host h2"],
    ["two minutes old", order({ at: new Date(T0 - 120_000).toISOString() }), "too old"],
    ["with an unknown field", order({ extra: 1 }), "malformed"],
    ["not JSON", "{", "malformed"],
  ])("refuses an order %s", (_, data, reason) => {
    const r = new LiftVerifier("h1", () => T0).verify(data, controller.publicKeyPem);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(reason);
  });
});
