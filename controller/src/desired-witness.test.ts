import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { generateSigningKeyPem, loadSigningKey, parseEnvelopeBytes, parseResource, type FirewallPolicy } from "@fleetwall/api";
import { Controller } from "./controller.js";
import { DesiredWitness } from "./desired-witness.js";

const key = loadSigningKey(generateSigningKeyPem().privatePem);
const policy = parseResource({ apiVersion: "fleetwall.io/v1alpha1", kind: "FirewallPolicy", metadata: { name: "web" }, spec: { hostSelector: {}, ingress: [{ name: "ssh", action: "Allow", protocol: "tcp", ports: [22] }] } });
const registration = { schemaVersion: 1 as const, hostId: "web-1", labels: {}, addresses: ["198.18.1.11"], agentVersion: "0.1.0", nftVersion: "1.0.6", startedAt: "2026-01-01T00:00:00Z" };

describe("DesiredWitness: the leader's puts and another writer's", () => {
  it.each([
    ["the state last sent (its put not yet acknowledged)", { seq: 12, state: { revision: 4, hash: "b" } }, undefined],
    ["the state known published", { seq: 11, state: { revision: 3, hash: "a" } }, undefined],
    ["an entry older than the last acknowledged put (history)", { seq: 9, state: { revision: 2, hash: "x" } }, undefined],
    ["another hash under the sent revision", { seq: 13, state: { revision: 4, hash: "evil" } }, { floor: 4 }],
    ["a higher revision", { seq: 13, state: { revision: 40, hash: "b" } }, { floor: 40 }],
    ["a lower revision", { seq: 13, state: { revision: 1, hash: "z" } }, { floor: 4 }],
    ["not a desired state at all", { seq: 13, state: undefined }, { floor: 4 }],
  ])("%s", (_what, entry, verdict) => {
    const w = new DesiredWitness();
    w.sending("h", { revision: 3, hash: "a" });
    w.acked("h", 10);
    w.sending("h", { revision: 4, hash: "b" });
    const r = w.foreign("h", entry, { revision: 3, hash: "a" });
    if (verdict) expect(r).toMatchObject(verdict);
    else expect(r).toBeUndefined();
  });

  it("repairs at once the first time, then backs off while another writer keeps at it, and starts afresh after a quiet while", () => {
    const w = new DesiredWitness();
    const t = 1_000_000;
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => w.pace("h", t + i))).toEqual([0, 1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]);
    expect(w.pace("other", t)).toBe(0);
    expect(w.pace("h", t + 10 * 60_000)).toBe(0);
  });
});

describe("Controller: a desired key another writer overwrote", () => {
  const setUp = () => {
    const puts: { hostId: string; revision: number; hash: string }[] = [];
    const lines: Record<string, unknown>[] = [];
    let seq = 100;
    const c = new Controller({
      putDesired: async (hostId, data) => {
        const env = parseEnvelopeBytes(data);
        const state = env.success ? (JSON.parse(env.data.payload) as { revision: number; hash: string }) : { revision: -1, hash: "" };
        puts.push({ hostId, revision: state.revision, hash: state.hash });
        return ++seq;
      },
    }, key, pino({ level: "warn" }, { write: (l: string) => void lines.push(JSON.parse(l)) }), new Map());
    if (!policy.ok) throw new Error("test policy invalid");
    c.setPolicies({ policies: [policy.resource as FirewallPolicy], banLists: [], errors: [] });
    c.setHost("web-1", registration);
    return { c, puts, lines, seq: () => seq };
  };

  it("publishes the host again above every revision seen for it, with one warning naming the host", async () => {
    const { c, puts, lines, seq } = setUp();
    await c.reconcile();
    const ours = puts[0] as { revision: number; hash: string };
    // its own put, delivered by the watch: nothing
    c.onDesiredEntry("web-1", { seq: seq(), state: { revision: ours.revision, hash: ours.hash } });
    expect(await c.reconcile()).toBe(0);
    // another writer: revision 7, other content
    c.onDesiredEntry("web-1", { seq: seq() + 5, state: { revision: 7, hash: "another" } });
    expect(await c.reconcile()).toBe(1);
    expect(puts.at(-1)).toEqual({ hostId: "web-1", revision: 8, hash: ours.hash });
    expect(lines.filter((l) => l.msg?.toString().startsWith("desired state overwritten"))).toEqual([expect.objectContaining({ host: "web-1", republishAbove: 7 })]);
    // repaired: nothing more to publish, and the repair's own put is not another writer's
    c.onDesiredEntry("web-1", { seq: seq(), state: { revision: 8, hash: ours.hash } });
    expect(await c.reconcile()).toBe(0);
    expect(c.overwritten).toBe(1);
  });

  it("never reuses a revision for other content: another hash under its own revision is published above it", async () => {
    const { c, puts, seq } = setUp();
    await c.reconcile();
    const ours = puts[0] as { revision: number; hash: string };
    c.onDesiredEntry("web-1", { seq: seq() + 1, state: { revision: ours.revision, hash: "another" } });
    await c.reconcile();
    expect(puts.map((p) => p.revision)).toEqual([ours.revision, ours.revision + 1]);
    expect(new Set(puts.map((p) => `${p.revision}`)).size).toBe(puts.length);
  });
});

describe("Controller: a put whose acknowledgement was lost", () => {
  const other = parseResource({ apiVersion: "fleetwall.io/v1alpha1", kind: "FirewallPolicy", metadata: { name: "web" }, spec: { hostSelector: {}, ingress: [{ name: "ssh", action: "Allow", protocol: "tcp", ports: [2222] }] } });

  /** A controller whose puts time out (recording what was sent) until `succeed()`. */
  const lostAckController = () => {
    const puts: { revision: number; hash: string }[] = [];
    let fail = true;
    const c = new Controller({
      putDesired: async (_hostId, data) => {
        const env = parseEnvelopeBytes(data);
        if (env.success) puts.push(JSON.parse(env.data.payload) as { revision: number; hash: string });
        if (fail) throw new Error("timeout");
        return puts.length;
      },
    }, key, pino({ level: "silent" }), new Map());
    return { c, puts, succeed: () => (fail = false) };
  };

  it("is never followed by other content under its revision (the server may have stored it, the agent applied it)", async () => {
    const { c, puts, succeed } = lostAckController();
    if (!policy.ok || !other.ok) throw new Error("test policy invalid");
    c.setPolicies({ policies: [policy.resource as FirewallPolicy], banLists: [], errors: [] });
    c.setHost("web-1", registration);
    await expect(c.reconcile()).rejects.toThrow("timeout");
    succeed();
    c.setPolicies({ policies: [other.resource as FirewallPolicy], banLists: [], errors: [] });
    await c.reconcile();
    expect(puts.map((p) => p.revision)).toEqual([1, 2]);
    expect(puts[0]?.hash).not.toBe(puts[1]?.hash);
  });

  it("seen stored by the watch, it counts as published: nothing is put again", async () => {
    const { c, puts, succeed } = lostAckController();
    if (!policy.ok) throw new Error("test policy invalid");
    c.setPolicies({ policies: [policy.resource as FirewallPolicy], banLists: [], errors: [] });
    c.setHost("web-1", registration);
    await expect(c.reconcile()).rejects.toThrow("timeout");
    succeed();
    const sent = puts[0] as { revision: number; hash: string };
    c.onDesiredEntry("web-1", { seq: 1, state: { revision: sent.revision, hash: sent.hash } });
    expect(await c.reconcile()).toBe(0);
    expect(c.overwritten).toBe(0);
  });
});

describe("Controller: an agent that holds a higher revision than this controller put", () => {
  it("is published above it (after `hosts delete`, an agent with saved state would refuse revision 1 as a replay)", async () => {
    const puts: number[] = [];
    const c = new Controller({
      putDesired: async (_hostId, data) => {
        const env = parseEnvelopeBytes(data);
        if (env.success) puts.push((JSON.parse(env.data.payload) as { revision: number }).revision);
        return puts.length;
      },
    }, key, pino({ level: "silent" }), new Map());
    if (!policy.ok) throw new Error("test policy invalid");
    c.setPolicies({ policies: [policy.resource as FirewallPolicy], banLists: [], errors: [] });
    c.setHost("web-1", registration);
    await c.reconcile();
    expect(puts).toEqual([1]);
    const report = { schemaVersion: 1 as const, hostId: "web-1", at: new Date().toISOString(), state: "Applied" as const, desiredRevision: 7, appliedRevision: 7, appliedHash: "other", driftRepairs: 0, droppedMessages: 1, auditDrops: {}, activeBans: 0 };
    c.recordReport(report);
    await c.reconcile();
    expect(puts).toEqual([1, 8]);
    // once above, reports of what it holds change nothing
    c.recordReport({ ...report, desiredRevision: 8, appliedRevision: 8 });
    expect(await c.reconcile()).toBe(0);
    expect(puts).toEqual([1, 8]);
  });
});
