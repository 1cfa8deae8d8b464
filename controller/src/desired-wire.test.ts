import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { DEFLATE_ABOVE_BYTES, DesiredState, FirewallPolicy, generateSigningKeyPem, loadSigningKey, parseEnvelopeBytes, verifyEnvelope, type HostRegistration } from "@fleetwall/api";
import { compile } from "./compile.js";
import { Controller } from "./controller.js";
import { DesiredTooLargeError, desiredBytes } from "./desired-wire.js";
import { planPublish, signedDesiredText } from "./publisher.js";

const key = loadSigningKey(generateSigningKeyPem().privatePem);
const dec = new TextDecoder();

/** A policy allowing `n` distinct single addresses (10.0.0.0 on), in rules of 10,000. */
function bigPolicy(n: number, name = "big"): FirewallPolicy {
  const ingress = [];
  for (let r = 0; r * 10_000 < n; r += 1) {
    const sources = Array.from({ length: Math.min(10_000, n - r * 10_000) }, (_, j) => {
      const i = r * 10_000 + j;
      return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    });
    ingress.push({ name: `many-${r}`, action: "Allow", protocol: "tcp", ports: [8000 + r], sources });
  }
  return FirewallPolicy.parse({ apiVersion: "fleetwall.io/v1alpha1", kind: "FirewallPolicy", metadata: { name }, spec: { hostSelector: {}, ingress } });
}

const statesOf = (policy: FirewallPolicy, ids: string[]) => planPublish(compile([policy], ids.map((id) => ({ id, labels: {} }))).hosts, new Map());

describe("desiredBytes: what a host's key gets", () => {
  it("keeps a small state as the framed text", async () => {
    const [state] = statesOf(bigPolicy(10), ["w1"]) as [DesiredState];
    expect(dec.decode(await desiredBytes(key, state, 1 << 20))).toBe(signedDesiredText(key, state));
  });

  it("deflates a big state; read back, it is the same signed state for each host sharing it", async () => {
    const states = statesOf(bigPolicy(50_000), ["w1", "w2", "w3"]);
    for (const state of states) {
      const text = signedDesiredText(key, state);
      expect(text.length).toBeGreaterThan(DEFLATE_ABOVE_BYTES);
      const bytes = await desiredBytes(key, state, 1 << 20);
      expect(bytes.length).toBeLessThan(text.length / 4);
      const env = parseEnvelopeBytes(bytes);
      if (!env.success) throw new Error(env.error);
      expect(verifyEnvelope(env.data, key.publicKeyPem)).toBe(true);
      expect(DesiredState.parse(JSON.parse(env.data.payload))).toEqual(state);
    }
  });

  it("refuses a state still over the limit, with its sizes and the limit", async () => {
    const [state] = statesOf(bigPolicy(50_000), ["w1"]) as [DesiredState];
    const error = await desiredBytes(key, state, 10_000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DesiredTooLargeError);
    const e = error as DesiredTooLargeError;
    expect(e.limit).toBe(10_000);
    expect(e.wireBytes).toBeGreaterThan(10_000);
    expect(e.textBytes).toBe(Buffer.byteLength(signedDesiredText(key, state).split("\n")[1] as string));
    expect(e.message).toBe(`desired state of ${e.textBytes} bytes (${e.wireBytes} as sent, deflated) exceeds the bus's limit of 10000 bytes per message`);
  });
});

describe("Controller: a desired state the bus cannot take", () => {
  const registration = (hostId: string): HostRegistration => ({ schemaVersion: 1, hostId, labels: {}, addresses: ["198.18.1.11"], agentVersion: "0.1.0", nftVersion: "1.0.6", startedAt: "2026-01-01T00:00:00Z" });

  function setUp(limit: number) {
    const puts: { hostId: string; revision: number }[] = [];
    const lines: Record<string, unknown>[] = [];
    const sink = {
      limit,
      putDesired: async (hostId: string, data: Uint8Array) => {
        const env = parseEnvelopeBytes(data);
        if (env.success) puts.push({ hostId, revision: (JSON.parse(env.data.payload) as { revision: number }).revision });
        return puts.length;
      },
      maxDesiredBytes: () => sink.limit,
    };
    const c = new Controller(sink, key, pino({ level: "info" }, { write: (l: string) => void lines.push(JSON.parse(l)) }), new Map());
    c.setHost("w1", registration("w1"));
    return { c, puts, lines, sink };
  }

  it("keeps the previous state in the key, says why in status, logs it once, and publishes once it fits", async () => {
    const { c, puts, lines, sink } = setUp(64 * 1024);
    c.setPolicies({ policies: [bigPolicy(10)], banLists: [], errors: [] });
    await c.reconcile();
    expect(puts).toEqual([{ hostId: "w1", revision: 1 }]);
    c.setPolicies({ policies: [bigPolicy(50_000)], banLists: [], errors: [] });
    for (let i = 0; i < 3; i += 1) await c.reconcile(); // no retries of a state that cannot fit
    expect(puts).toHaveLength(1);
    const host = c.status().hosts[0];
    expect(host?.desiredRevision).toBe(1);
    expect(host?.inSync).toBe(false);
    expect(host?.unpublished).toMatchObject({ reason: "TooLarge", revision: 2, limit: 64 * 1024 });
    expect(host?.unpublished?.message).toMatch(/^revision 2 not published: desired state of \d+ bytes \(\d+ as sent, deflated\) exceeds the bus's limit of 65536 bytes per message$/);
    expect(c.status().policies[0]).toMatchObject({ name: "big", selectedHosts: 1, appliedHosts: 0, failedHosts: 1, unpublishedHosts: 1 });
    const logged = lines.filter((l) => l.msg === "desired state not published; the host keeps its previous state");
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ host: "w1", revision: 2, reason: "TooLarge", limit: 65536, policies: ["big"] });
    expect(c.failures.total).toBe(1);
    // the limit is read at each publish: a server that takes more gets it when the state next changes
    sink.limit = 1 << 20;
    c.setPolicies({ policies: [bigPolicy(50_001)], banLists: [], errors: [] });
    await c.reconcile();
    expect(puts.at(-1)).toEqual({ hostId: "w1", revision: 2 });
    expect(c.status().hosts[0]?.unpublished).toBeUndefined();
  });

  it("forgets the failure when the policy goes back to what the key holds", async () => {
    const { c, puts } = setUp(64 * 1024);
    c.setPolicies({ policies: [bigPolicy(10)], banLists: [], errors: [] });
    await c.reconcile();
    c.setPolicies({ policies: [bigPolicy(50_000)], banLists: [], errors: [] });
    await c.reconcile();
    expect(c.status().hosts[0]?.unpublished?.reason).toBe("TooLarge");
    c.setPolicies({ policies: [bigPolicy(10)], banLists: [], errors: [] });
    await c.reconcile();
    expect(puts).toHaveLength(1);
    expect(c.status().hosts[0]?.unpublished).toBeUndefined();
  });

  it("a put that fails is in status and logged once however often it is retried", async () => {
    const lines: Record<string, unknown>[] = [];
    let fail = true;
    const c = new Controller({ putDesired: async () => (fail ? Promise.reject(new Error("no ack within 5000 ms")) : 1) }, key, pino({ level: "info" }, { write: (l: string) => void lines.push(JSON.parse(l)) }), new Map());
    c.setHost("w1", registration("w1"));
    c.setPolicies({ policies: [bigPolicy(10)], banLists: [], errors: [] });
    for (let i = 0; i < 3; i += 1) await expect(c.reconcile()).rejects.toThrow("desired state not published: no ack within 5000 ms");
    // each retry goes out above the unacknowledged one (the server may have stored it)
    expect(c.status().hosts[0]?.unpublished).toMatchObject({ reason: "PublishFailed", message: "revision 3 not published: no ack within 5000 ms" });
    expect(lines.filter((l) => l.msg === "desired state not published; the host keeps its previous state")).toHaveLength(1);
    expect(c.failures.total).toBe(3);
    fail = false;
    await c.reconcile();
    expect(c.status().hosts[0]?.unpublished).toBeUndefined();
  });
});
