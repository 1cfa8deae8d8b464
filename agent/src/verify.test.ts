import { describe, expect, it } from "vitest";
import { SCHEMA_VERSION, generateSigningKeyPem, loadSigningKey, signPayload, type DesiredState } from "@fleetwall/api";
import { verifyDesired } from "./verify.js";

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
