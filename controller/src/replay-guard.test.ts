import { describe, expect, it } from "vitest";
import { newDecision, type BanDecision } from "@fleetwall/api";
import { ReplayGuard } from "./replay-guard.js";

const t0 = Date.parse("2026-11-27T12:00:00Z");
const d = (issuedMs: number): BanDecision => ({ ...newDecision({ list: "cli", cidr: "203.0.113.7", createdAtMs: issuedMs, expiresAtMs: null, source: "cli" }), issuedAt: new Date(issuedMs).toISOString() });

describe("ReplayGuard", () => {
  it("lets new decisions through, each signed after the one it replaces", () => {
    const g = new ReplayGuard();
    expect(g.check("k", d(t0), undefined, t0 + 5, t0 + 5)).toBeUndefined();
    expect(g.check("k", d(t0 + 1000), d(t0), t0 + 1005, t0 + 1005)).toBeUndefined();
  });

  it("refuses a decision stored long after it was signed", () => {
    expect(new ReplayGuard().check("k", d(t0), undefined, t0 + 600_000, t0 + 600_000)).toMatch(/^replayed: issued/);
  });

  it("refuses a superseded decision put back at once, and a lifted one put back at once", () => {
    const g = new ReplayGuard();
    expect(g.check("k", d(t0), d(t0 + 30_000), t0 + 30_100, t0 + 30_100)).toMatch(/before the decision it replaces/);
    expect(g.check("k", null, d(t0 + 30_000), undefined, t0 + 31_000)).toBeUndefined();
    expect(g.check("k", d(t0 + 30_000), undefined, t0 + 32_000, t0 + 32_000)).toMatch(/a decision lifted since/);
    // a new decision for the key after the lift is not a replay
    expect(g.check("k", d(t0 + 33_000), undefined, t0 + 33_010, t0 + 33_010)).toBeUndefined();
  });

  it("forgets lifted keys after a while (the timing check covers older put-backs)", () => {
    const g = new ReplayGuard();
    g.check("k", null, d(t0), undefined, t0);
    expect(g.check("k", d(t0), undefined, undefined, t0 + 300_000)).toBeUndefined();
  });
});
