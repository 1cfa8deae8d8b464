import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { FleetStatus } from "@fleetwall/api";
import type { Controller } from "./controller.js";
import type { ObjectStatus } from "./kube-status.js";
import { KubeStatusWriter, type StatusTarget } from "./kube-status-writer.js";

const fleet = (entries: number): FleetStatus => ({ hosts: [], policies: [], banLists: [{ name: "l", entries, active: entries, hostsEnforcing: 0 }] }) as unknown as FleetStatus;

/** An API server whose BanList schema has no `conditions` (it prunes them), with an informer cache that follows its writes. */
function server(initial: ObjectStatus | null) {
  const stored = new Map<string, ObjectStatus | null>([["banlists/l", initial]]);
  const patches: ObjectStatus[] = [];
  const target: StatusTarget = {
    generations: new Map([["banlists/l", 1]]),
    currentStatus: (key) => stored.get(key),
    hostNames: () => [],
    async writeStatus(key, patch) {
      patches.push(patch);
      const next: Record<string, unknown> = { ...(stored.get(key) ?? {}) };
      for (const [k, v] of Object.entries(patch)) {
        if (v === null) delete next[k];
        else if (k !== "conditions") next[k] = v;
      }
      stored.set(key, next);
      return next;
    },
  };
  return { target, patches, stored };
}

describe("the status writer", () => {
  const options = { minIntervalMs: 0, budget: 50, log: pino({ level: "silent" }) };
  const controller = (f: () => FleetStatus) => ({ status: f, selection: new Map(), registrations: new Map() }) as unknown as Controller;

  it("writes a status the server prunes once, not on every tick", async () => {
    const { target, patches } = server(null);
    const writer = new KubeStatusWriter(target, controller(() => fleet(3)), options);
    for (let t = 0; t < 10; t += 1) await writer.tick(1_000_000 + t * 1000);
    expect(patches).toHaveLength(1);
  });

  it("writes again when the status changes, or when someone else changed what the server stored", async () => {
    const { target, patches, stored } = server(null);
    let entries = 3;
    const writer = new KubeStatusWriter(target, controller(() => fleet(entries)), options);
    await writer.tick(1_000_000);
    entries = 4;
    await writer.tick(1_001_000);
    expect(patches.map((p) => p.entries)).toEqual([3, 4]);
    stored.set("banlists/l", { entries: 99 });
    await writer.tick(1_002_000);
    expect(patches.map((p) => p.entries)).toEqual([3, 4, 4]);
  });

  it("counts the objects still to be written after a pass: none once written, one while rate-limited", async () => {
    const { target, patches } = server(null);
    let entries = 3;
    const writer = new KubeStatusWriter(target, controller(() => fleet(entries)), { ...options, minIntervalMs: 10_000 });
    await writer.tick(1_000_000);
    expect([patches.length, writer.pending]).toEqual([1, 0]);
    entries = 4;
    await writer.tick(1_001_000);
    expect([patches.length, writer.pending]).toEqual([1, 1]);
    await writer.tick(1_011_000);
    expect([patches.length, writer.pending]).toEqual([2, 0]);
  });

  it("removes fields it no longer writes (a merge patch keeps what it does not name)", async () => {
    const { target, patches, stored } = server({ entries: 1, stale: "x" });
    await new KubeStatusWriter(target, controller(() => fleet(1)), options).tick(1_000_000);
    expect(patches[0]).toMatchObject({ stale: null, entries: 1 });
    expect(stored.get("banlists/l")).not.toHaveProperty("stale");
  });

  it("a write the server refuses is retried with backoff, not on every tick", async () => {
    const { target } = server(null);
    let calls = 0;
    target.writeStatus = async () => {
      calls += 1;
      throw Object.assign(new Error("Forbidden"), { statusCode: 403 });
    };
    const writer = new KubeStatusWriter(target, controller(() => fleet(1)), { ...options, minIntervalMs: 2000 });
    // a tick a second for a minute: attempts at 0, 2, 6, 14, 30 and 60 s (backoff 2, 4, 8, 16, 30 s)
    for (let t = 0; t <= 60; t += 1) await writer.tick(1_000_000 + t * 1000);
    expect(calls).toBe(6);
    expect(writer.failures).toBe(6);
  });

  it("a new leader writes nothing until every FirewallHost's agent has reported (or the grace is over)", async () => {
    const { target, patches } = server(null);
    target.hostNames = () => ["h1", "h2"];
    let heard = ["h1"];
    const status = () => ({ ...fleet(1), hosts: ["h1", "h2"].map((id) => ({ id, lastSeen: heard.includes(id) ? "2026-12-06T00:00:00.000Z" : null })) }) as unknown as FleetStatus;
    const writer = new KubeStatusWriter(target, controller(status), { ...options, startupGraceMs: 10_000 });
    await writer.tick(1_000_000);
    await writer.tick(1_005_000);
    expect(patches).toHaveLength(0);
    heard = ["h1", "h2"];
    await writer.tick(1_006_000);
    expect(patches.length).toBeGreaterThan(0);
    // and a host that never reports delays the first write by the grace only
    const late = server(null);
    late.target.hostNames = () => ["gone"];
    const w2 = new KubeStatusWriter(late.target, controller(() => fleet(1)), { ...options, startupGraceMs: 10_000 });
    await w2.tick(1_000_000);
    await w2.tick(1_009_999);
    expect(late.patches).toHaveLength(0);
    await w2.tick(1_010_000);
    expect(late.patches).toHaveLength(1);
  });
});
