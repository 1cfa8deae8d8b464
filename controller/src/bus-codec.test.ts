import { describe, expect, it } from "vitest";
import { FirewallPolicy, HostRegistration, SEAL_KEY_PREFIX, envelopeText, generateSigningKeyPem, loadSigningKey, newDecision, signPayload } from "@fleetwall/api";
import { compile } from "./compile.js";
import { planPublish, signedDesiredText } from "./publisher.js";
import { decodeBanEntry, decodeDesired, decodeHostEntry, kvSubject, publishedOf, safeJson } from "./bus-codec.js";

const enc = new TextEncoder();
const bytes = (v: unknown) => enc.encode(typeof v === "string" ? v : JSON.stringify(v));
const key = loadSigningKey(generateSigningKeyPem().privatePem);
const registration = { schemaVersion: 1, hostId: "web-1", labels: {}, addresses: ["198.18.1.11"], agentVersion: "0.1.0", nftVersion: "1.0.6", startedAt: "2026-01-01T00:00:00Z" };
const policy = FirewallPolicy.parse({ apiVersion: "fleetwall.io/v1alpha1", kind: "FirewallPolicy", metadata: { name: "all" }, spec: { hostSelector: { matchLabels: {} }, ingress: [{ name: "ssh", action: "Allow", protocol: "tcp", ports: [22], sources: ["198.18.0.0/16"] }], jails: [] } });
const [state] = planPublish(compile([policy], [{ id: "web-1", labels: {} }]).hosts, new Map());
const decision = newDecision({ list: "cli", cidr: "203.0.113.9", createdAtMs: Date.parse("2026-12-01T00:00:00Z"), expiresAtMs: null, source: "cli" });

describe("bus codec", () => {
  it("builds KV subjects only for keys the KV API accepts", () => {
    expect(kvSubject("fleetwall-bans", "l.203_0_113_9")).toBe("$KV.fleetwall-bans.l.203_0_113_9");
    for (const bad of ["", "a..b", ".a", "a.", "a*", "a.>", "a b"]) expect(() => kvSubject("b", bad), bad).toThrow(/invalid key/);
  });

  it("reads JSON against a schema and refuses what is not JSON or does not match", () => {
    expect(safeJson(bytes(registration), HostRegistration, "registration")).toEqual(registration);
    expect(safeJson(bytes("{not json"), HostRegistration, "registration")).toBeUndefined();
    expect(safeJson(bytes({ ...registration, hostId: 7 }), HostRegistration, "registration")).toBeUndefined();
    expect(safeJson(bytes(`{"hostId":"h1","x":${"[".repeat(100)}${"]".repeat(100)}}`), HostRegistration, "registration")).toBeUndefined();
    expect(safeJson(bytes({ ...registration, labels: { x: "a".repeat(17_000) } }), HostRegistration, "registration")).toBeUndefined();
  });

  it("decodes a signed desired state, its revision and hash, and refuses what is not one", () => {
    if (!state) throw new Error("no state compiled");
    const text = bytes(signedDesiredText(key, state));
    expect(decodeDesired(text)).toEqual(state);
    expect(publishedOf(text)).toEqual({ revision: state.revision, hash: state.hash });
    const notState = bytes(envelopeText(signPayload(key, JSON.stringify({ revision: "1", hash: 2 }))));
    expect(decodeDesired(notState)).toBeUndefined();
    expect(publishedOf(notState)).toBeUndefined();
    expect(decodeDesired(bytes(JSON.stringify(state)))).toBeUndefined(); // unsigned
    expect(publishedOf(bytes("garbage"))).toBeUndefined();
  });

  it("takes a host registration only under its own host's key", () => {
    expect(decodeHostEntry("web-1", "PUT", bytes(registration))).toEqual({ kind: "registration", reg: registration });
    expect(decodeHostEntry("web-2", "PUT", bytes(registration))).toEqual({ kind: "invalid" });
    expect(decodeHostEntry("web-1", "PUT", bytes("{"))).toEqual({ kind: "invalid" });
    expect(decodeHostEntry("web-1", "DEL", new Uint8Array(0))).toEqual({ kind: "deleted" });
    expect(decodeHostEntry("web-1", "PURGE", new Uint8Array(0))).toEqual({ kind: "deleted" });
  });

  it("tells seals, signed decisions, removals and unreadable values in the bans bucket apart", () => {
    const env = signPayload(key, JSON.stringify(decision));
    expect(decodeBanEntry("l.203_0_113_9", "PUT", bytes(envelopeText({ ...env, seal: "s1" })))).toEqual({ kind: "decision", decision, seal: "s1" });
    expect(decodeBanEntry("l.203_0_113_9", "PUT", bytes(envelopeText(env)))).toMatchObject({ kind: "decision", decision, seal: undefined });
    expect(decodeBanEntry("l.203_0_113_9", "DEL", new Uint8Array(0))).toEqual({ kind: "deleted" });
    expect(decodeBanEntry(`${SEAL_KEY_PREFIX}s1`, "PUT", bytes("anything"))).toEqual({ kind: "seal", id: "s1", present: true });
    expect(decodeBanEntry(`${SEAL_KEY_PREFIX}s1`, "DEL", new Uint8Array(0))).toEqual({ kind: "seal", id: "s1", present: false });
    expect(decodeBanEntry("l.x", "PUT", bytes(envelopeText(signPayload(key, JSON.stringify({ cidr: "nope" })))))).toEqual({ kind: "invalid" });
    expect(decodeBanEntry("l.x", "PUT", bytes(JSON.stringify(decision)))).toEqual({ kind: "invalid" });
  });
});
