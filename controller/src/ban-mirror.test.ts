import { describe, expect, it } from "vitest";
import { newDecision } from "@fleetwall/api";
import { BanMirror } from "./ban-mirror.js";

const now = Date.parse("2026-11-27T12:00:00Z");
const allow = (cidr: string, expiresAtMs: number | null = null) => newDecision({ list: "admins", type: "Allow", cidr, createdAtMs: now, expiresAtMs, source: "BanList" });

describe("BanMirror", () => {
  it("resolves a writer's wait once the watch has delivered its revision, and gives up after the timeout", async () => {
    const m = new BanMirror(() => now);
    const waited = m.waitForRevision(3, 1000);
    m.onEntry("a", allow("203.0.113.1"), undefined, 2);
    m.onSeal("s", true, 3);
    expect(await waited).toBe(true);
    expect(await m.waitForRevision(2)).toBe(true);
    expect(await m.waitForRevision(9, 10)).toBe(false);
  });

  it("keeps the allowlist in force: rebuilt when an Allow comes or goes, without the expired ones", () => {
    let t = now;
    const m = new BanMirror(() => t);
    let changes = 0;
    m.onAllowChange = () => void (changes += 1);
    m.onEntry("a", allow("203.0.113.0/24", now + 1000));
    m.onEntry("b", allow("198.51.100.7"));
    m.onEntry("c", newDecision({ list: "cli", cidr: "203.0.113.9", createdAtMs: now, expiresAtMs: null, source: "cli" }));
    expect(m.allow().map((c) => c.text)).toEqual(["203.0.113.0/24", "198.51.100.7"]);
    expect(m.allow()).toBe(m.allow()); // the same array until something changes: the arbiter keys its lookup set on it
    t = now + 2000;
    expect(m.allow().map((c) => c.text)).toEqual(["198.51.100.7"]);
    m.onEntry("b", null);
    expect(m.allow()).toEqual([]);
    expect(changes).toBe(3);
  });

  it("knows which seal each decision uses, and forgets it with the decision", () => {
    const m = new BanMirror(() => now);
    m.onSeal("s1", true);
    m.onEntry("k", allow("203.0.113.1"), "s1");
    expect([...m.sealOf]).toEqual([["k", "s1"]]);
    m.onEntry("k", null);
    expect(m.sealOf.size).toBe(0);
    expect(m.seals.get("s1")).toBe(now);
  });
});
