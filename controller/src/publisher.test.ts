import { describe, expect, it } from "vitest";
import { DesiredState, FirewallPolicy, generateSigningKeyPem, parseEnvelopeText, loadSigningKey, signPayload, verifyEnvelope } from "@fleetwall/api";
import { compile } from "./compile.js";
import { planPublish, signedDesiredText } from "./publisher.js";

const key = loadSigningKey(generateSigningKeyPem().privatePem);
const envelopeOf = (text: string) => {
  const env = parseEnvelopeText(text);
  if (!env.success) throw new Error(env.error);
  return env.data;
};
const policy = (name: string, selector: Record<string, string>, port: number) =>
  FirewallPolicy.parse({ apiVersion: "fleetwall.io/v1alpha1", kind: "FirewallPolicy", metadata: { name }, spec: { hostSelector: { matchLabels: selector }, ingress: [{ name: "x", action: "Allow", protocol: "tcp", ports: [port], sources: ['198.18.0.0/16'] }], jails: [] } });

describe("signed desired-state text", () => {
  const policies = [policy("web", { role: "web" }, 443), policy("db", { role: "db" }, 5432), policy("all", {}, 22)];
  const hosts: { id: string; labels: Record<string, string> }[] = [
    { id: "w1", labels: { role: "web" } },
    { id: "w2", labels: { role: "web" } },
    { id: "d1", labels: { role: "db" } },
    { id: "x1", labels: {} },
  ];
  const plan = planPublish(compile(policies, hosts).hosts, new Map([["w2", { revision: 7, hash: "old" }]]));

  it.each(plan.map((s) => [s.hostId, s] as const))("for %s is a valid signed envelope of exactly the state", (_, state) => {
    const env = envelopeOf(signedDesiredText(key, state));
    expect(verifyEnvelope(env, key.publicKeyPem)).toBe(true);
    expect(DesiredState.parse(JSON.parse(env.payload))).toEqual(state);
    expect(JSON.parse(env.payload)).toEqual(JSON.parse(JSON.stringify(state)));
    expect(env.digest).toBe("sha256");
  });

  it("signs the exact payload: a state changed in transit, or signed by another key, does not verify", () => {
    const state = plan[0] as DesiredState;
    const env = envelopeOf(signedDesiredText(key, state));
    const other = loadSigningKey(generateSigningKeyPem().privatePem);
    expect(verifyEnvelope({ ...env, payload: env.payload.replace(`"revision":${state.revision}`, `"revision":${state.revision + 1}`) }, key.publicKeyPem)).toBe(false);
    expect(verifyEnvelope({ ...env, payload: env.payload.replace("198.18.0.0/16", "0.0.0.0/0") }, key.publicKeyPem)).toBe(false);
    expect(verifyEnvelope(env, other.publicKeyPem)).toBe(false);
    // the signature covers the digest as a digest: the same envelope read as payload-signed fails
    expect(verifyEnvelope({ ...env, digest: undefined }, key.publicKeyPem)).toBe(false);
  });

  it("a payload signed whole (the form before digests, still in agents' state files) verifies", () => {
    const state = plan[0] as DesiredState;
    const env = signPayload(key, JSON.stringify(state));
    expect(env.digest).toBeUndefined();
    expect(verifyEnvelope(env, key.publicKeyPem)).toBe(true);
    expect(verifyEnvelope({ ...env, payload: env.payload.replace('"revision":1', '"revision":2') }, key.publicKeyPem)).toBe(false);
  });

  it("hosts sharing a ruleset share its serialisation, and still each get their own id and revision", () => {
    const w1 = plan.find((s) => s.hostId === "w1") as DesiredState;
    const w2 = plan.find((s) => s.hostId === "w2") as DesiredState;
    expect(w1.ruleset).toBe(w2.ruleset);
    const p1 = JSON.parse(envelopeOf(signedDesiredText(key, w1)).payload) as DesiredState;
    const p2 = JSON.parse(envelopeOf(signedDesiredText(key, w2)).payload) as DesiredState;
    expect([p1.hostId, p1.revision, p2.hostId, p2.revision]).toEqual(["w1", 1, "w2", 8]);
  });
});
