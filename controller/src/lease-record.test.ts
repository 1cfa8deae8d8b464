import { describe, expect, it } from "vitest";
import { isOwnLease, leaseStep, microTime, observeLease, releasedSpec, termOf, type LeaseObservation } from "./lease-record.js";

const T = Date.parse("2026-12-05T23:23:47.387Z");
const wire = (v: unknown) => JSON.parse(JSON.stringify(v)) as Record<string, unknown>;

describe("leader election steps", () => {
  it("writes MicroTime with exactly six fractional digits, as the API server requires", () => {
    expect(JSON.stringify(microTime(T))).toBe('"2026-12-05T23:23:47.387000Z"');
    const step = leaseStep(undefined, false, "a", 15_000, T, T);
    expect(wire(step.kind === "create" && step.spec)).toEqual({ holderIdentity: "a", leaseDurationSeconds: 15, renewTime: "2026-12-05T23:23:47.387000Z", acquireTime: "2026-12-05T23:23:47.387000Z", leaseTransitions: 0 });
  });

  // the last column: how long ago (local clock) this candidate saw the record change
  it.each([
    ["held by another, changed 7 s ago", { holderIdentity: "b", renewTime: "2026-12-05T23:23:40.000000Z", leaseDurationSeconds: 15 }, 7_000, "wait"],
    ["held by another, unchanged for 16 s", { holderIdentity: "b", renewTime: "2026-12-05T23:23:30.000000Z", leaseDurationSeconds: 15 }, 16_000, "update"],
    ["held by another, renewTime an hour old but it just changed", { holderIdentity: "b", renewTime: "2026-12-05T22:23:47.000000Z", leaseDurationSeconds: 15 }, 0, "wait"],
    ["released (no holder)", { renewTime: "2026-12-05T23:23:47.000000Z", leaseDurationSeconds: 1 }, 0, "update"],
    ["our own", { holderIdentity: "a", renewTime: "2026-12-05T23:23:40.000000Z", leaseDurationSeconds: 15, leaseTransitions: 3, acquireTime: "2026-12-05T23:20:00.123000Z" }, 0, "update"],
    ["our identity, another process's term (acquired at another time)", { holderIdentity: "a", renewTime: "2026-12-05T23:23:40.000000Z", leaseDurationSeconds: 15, leaseTransitions: 3, acquireTime: "2026-12-05T23:21:00.000000Z" }, 7_000, "wait"],
    ["our identity, another process's term (another transition)", { holderIdentity: "a", renewTime: "2026-12-05T23:23:40.000000Z", leaseDurationSeconds: 15, leaseTransitions: 4, acquireTime: "2026-12-05T23:20:00.123000Z" }, 7_000, "wait"],
    ["our identity, another process's term, unchanged for 16 s", { holderIdentity: "a", renewTime: "2026-12-05T23:23:00.000000Z", leaseDurationSeconds: 15, leaseTransitions: 4, acquireTime: "2026-12-05T23:20:00.123000Z" }, 16_000, "update"],
  ])("%s: %s", (_name, spec, ago, kind) => {
    const mine = { acquireMs: Date.parse("2026-12-05T23:20:00.123Z"), transitions: 3 };
    expect(leaseStep(spec as never, true, "a", 15_000, T, T - ago, mine).kind).toBe(kind);
  });

  it("a process that never took the lease does not renew one held under its identity (another process's), it waits", () => {
    const held = { holderIdentity: "a", renewTime: "2026-12-05T23:23:40.000000Z" as never, leaseDurationSeconds: 15, leaseTransitions: 3, acquireTime: "2026-12-05T23:20:00.123000Z" as never };
    expect(leaseStep(held, true, "a", 15_000, T, T)).toEqual({ kind: "wait", holder: "a (another process with this identity)" });
  });

  it("the lease is this process's own only for the identity and the term it wrote", () => {
    const taken = leaseStep({ holderIdentity: "b", renewTime: "2026-12-05T23:23:00.000000Z" as never, leaseDurationSeconds: 15, leaseTransitions: 2 }, true, "a", 15_000, T, T - 20_000);
    if (taken.kind !== "update") throw new Error("not taken");
    const mine = termOf(taken.spec);
    const read = wire(taken.spec); // as the server gives it back
    expect(isOwnLease(read as never, "a", mine)).toBe(true);
    expect(isOwnLease(read as never, "a", undefined)).toBe(false);
    expect(isOwnLease({ ...read, leaseTransitions: 4 } as never, "a", mine)).toBe(false);
    expect(isOwnLease({ ...read, acquireTime: "2026-12-05T23:23:48.000000Z" } as never, "a", mine)).toBe(false);
    expect(isOwnLease({ ...read, holderIdentity: "b" } as never, "a", mine)).toBe(false);
  });

  it("counts a transition when it takes the lease, not when it renews its own", () => {
    const taken = leaseStep({ holderIdentity: "b", renewTime: "2026-12-05T23:23:00.000000Z" as never, leaseDurationSeconds: 15, leaseTransitions: 2 }, true, "a", 15_000, T, T - 20_000);
    expect(taken).toMatchObject({ kind: "update", taking: true, spec: { holderIdentity: "a", leaseTransitions: 3 } });
    const renewed = leaseStep({ holderIdentity: "a", renewTime: "2026-12-05T23:23:40.000000Z" as never, leaseDurationSeconds: 15, leaseTransitions: 2 }, true, "a", 15_000, T, T, { acquireMs: 0, transitions: 2 });
    expect(renewed).toMatchObject({ kind: "update", taking: false, spec: { leaseTransitions: 2 } });
    expect(wire(renewed.kind === "update" && renewed.spec).renewTime).toBe("2026-12-05T23:23:47.387000Z");
  });

  it("a release clears the holder and leaves a one-second lease renewed now", () => {
    const spec = wire(releasedSpec({ holderIdentity: "a", leaseDurationSeconds: 15, leaseTransitions: 4 }, T));
    expect(spec).toEqual({ leaseDurationSeconds: 1, leaseTransitions: 4, renewTime: "2026-12-05T23:23:47.387000Z", acquireTime: "2026-12-05T23:23:47.387000Z" });
    expect(leaseStep(spec as never, true, "b", 15_000, T + 10, T + 10).kind).toBe("update");
  });

  it("judges expiry by the candidate's own clock: a candidate 30 s ahead does not take a healthy lease, and takes a dead one a duration after its last change", () => {
    // the leader (true clock) renews every 2 s; the candidate's clock runs 30 s ahead
    const SKEW = 30_000;
    let seen: LeaseObservation | undefined;
    const candidate = (leaderNow: number, rv: string) => {
      const lease = { spec: { holderIdentity: "leader", renewTime: microTime(leaderNow), leaseDurationSeconds: 15 }, metadata: { resourceVersion: rv } };
      const now = leaderNow + SKEW;
      seen = observeLease(seen, lease, now);
      return leaseStep(lease.spec, true, "skewed", 15_000, now, seen.at).kind;
    };
    for (let i = 0; i < 30; i++) expect(candidate(T + i * 2000, String(100 + i))).toBe("wait");
    // the leader dies at its last renewal (T + 58 s): the record stops changing
    const last = T + 29 * 2000;
    const frozen = { spec: { holderIdentity: "leader", renewTime: microTime(last), leaseDurationSeconds: 15 }, metadata: { resourceVersion: "129" } };
    const at = (elapsed: number) => {
      const now = last + SKEW + elapsed;
      seen = observeLease(seen, frozen, now);
      return leaseStep(frozen.spec, true, "skewed", 15_000, now, seen.at).kind;
    };
    expect(at(14_000)).toBe("wait");
    expect(at(15_001)).toBe("update");
  });

  it("a candidate whose clock runs 30 s behind does not wait for a dead leader's renewTime to pass on its clock", () => {
    const lease = { spec: { holderIdentity: "dead", renewTime: microTime(T), leaseDurationSeconds: 15 }, metadata: { resourceVersion: "7" } };
    const behind = T - 30_000;
    const first = observeLease(undefined, lease, behind);
    expect(leaseStep(lease.spec, true, "slow", 15_000, behind, first.at).kind).toBe("wait");
    const later = observeLease(first, lease, behind + 16_000);
    expect(later).toBe(first);
    // renewTime is still 14 s in this candidate's future, yet the record has not changed for 16 s
    expect(leaseStep(lease.spec, true, "slow", 15_000, behind + 16_000, later.at).kind).toBe("update");
  });

  it("an observation moves on any change of holder, renewTime or resourceVersion, and only then", () => {
    const base = { spec: { holderIdentity: "b", renewTime: microTime(T), leaseDurationSeconds: 15 }, metadata: { resourceVersion: "1" } };
    const o = observeLease(undefined, base, 1000);
    expect(observeLease(o, structuredClone(base), 5000).at).toBe(1000);
    expect(observeLease(o, { ...base, metadata: { resourceVersion: "2" } }, 5000).at).toBe(5000);
    expect(observeLease(o, { ...base, spec: { ...base.spec, holderIdentity: "c" } }, 6000).at).toBe(6000);
    expect(observeLease(o, { ...base, spec: { ...base.spec, renewTime: microTime(T + 1) } }, 7000).at).toBe(7000);
    // read back as text, the same time is the same record
    expect(observeLease(o, { ...base, spec: { ...base.spec, renewTime: "2026-12-05T23:23:47.387000Z" as never } }, 8000).at).toBe(1000);
  });
});
