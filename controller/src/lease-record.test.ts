import { describe, expect, it } from "vitest";
import { isOwnLease, leaseStep, microTime, releasedSpec, termOf } from "./lease-record.js";

const T = Date.parse("2026-12-05T23:23:47.387Z");
const wire = (v: unknown) => JSON.parse(JSON.stringify(v)) as Record<string, unknown>;

describe("leader election steps", () => {
  it("writes MicroTime with exactly six fractional digits, as the API server requires", () => {
    expect(JSON.stringify(microTime(T))).toBe('"2026-12-05T23:23:47.387000Z"');
    const step = leaseStep(undefined, false, "a", 15_000, T);
    expect(wire(step.kind === "create" && step.spec)).toEqual({ holderIdentity: "a", leaseDurationSeconds: 15, renewTime: "2026-12-05T23:23:47.387000Z", acquireTime: "2026-12-05T23:23:47.387000Z", leaseTransitions: 0 });
  });

  it.each([
    ["held by another, fresh", { holderIdentity: "b", renewTime: "2026-12-05T23:23:40.000000Z", leaseDurationSeconds: 15 }, "wait"],
    ["held by another, expired", { holderIdentity: "b", renewTime: "2026-12-05T23:23:30.000000Z", leaseDurationSeconds: 15 }, "update"],
    ["released (no holder)", { renewTime: "2026-12-05T23:23:47.000000Z", leaseDurationSeconds: 1 }, "update"],
    ["our own", { holderIdentity: "a", renewTime: "2026-12-05T23:23:40.000000Z", leaseDurationSeconds: 15, leaseTransitions: 3, acquireTime: "2026-12-05T23:20:00.123000Z" }, "update"],
    ["our identity, another process's term (acquired at another time)", { holderIdentity: "a", renewTime: "2026-12-05T23:23:40.000000Z", leaseDurationSeconds: 15, leaseTransitions: 3, acquireTime: "2026-12-05T23:21:00.000000Z" }, "wait"],
    ["our identity, another process's term (another transition)", { holderIdentity: "a", renewTime: "2026-12-05T23:23:40.000000Z", leaseDurationSeconds: 15, leaseTransitions: 4, acquireTime: "2026-12-05T23:20:00.123000Z" }, "wait"],
    ["our identity, another process's term, expired", { holderIdentity: "a", renewTime: "2026-12-05T23:23:00.000000Z", leaseDurationSeconds: 15, leaseTransitions: 4, acquireTime: "2026-12-05T23:20:00.123000Z" }, "update"],
  ])("%s: %s", (_name, spec, kind) => {
    const mine = { acquireMs: Date.parse("2026-12-05T23:20:00.123Z"), transitions: 3 };
    expect(leaseStep(spec as never, true, "a", 15_000, T, mine).kind).toBe(kind);
  });

  it("a process that never took the lease does not renew one held under its identity (another process's), it waits", () => {
    const held = { holderIdentity: "a", renewTime: "2026-12-05T23:23:40.000000Z" as never, leaseDurationSeconds: 15, leaseTransitions: 3, acquireTime: "2026-12-05T23:20:00.123000Z" as never };
    expect(leaseStep(held, true, "a", 15_000, T)).toEqual({ kind: "wait", holder: "a (another process with this identity)" });
  });

  it("the lease is this process's own only for the identity and the term it wrote", () => {
    const taken = leaseStep({ holderIdentity: "b", renewTime: "2026-12-05T23:23:00.000000Z" as never, leaseDurationSeconds: 15, leaseTransitions: 2 }, true, "a", 15_000, T);
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
    const taken = leaseStep({ holderIdentity: "b", renewTime: "2026-12-05T23:23:00.000000Z" as never, leaseDurationSeconds: 15, leaseTransitions: 2 }, true, "a", 15_000, T);
    expect(taken).toMatchObject({ kind: "update", taking: true, spec: { holderIdentity: "a", leaseTransitions: 3 } });
    const renewed = leaseStep({ holderIdentity: "a", renewTime: "2026-12-05T23:23:40.000000Z" as never, leaseDurationSeconds: 15, leaseTransitions: 2 }, true, "a", 15_000, T, { acquireMs: 0, transitions: 2 });
    expect(renewed).toMatchObject({ kind: "update", taking: false, spec: { leaseTransitions: 2 } });
    expect(wire(renewed.kind === "update" && renewed.spec).renewTime).toBe("2026-12-05T23:23:47.387000Z");
  });

  it("a release clears the holder and leaves a one-second lease renewed now", () => {
    const spec = wire(releasedSpec({ holderIdentity: "a", leaseDurationSeconds: 15, leaseTransitions: 4 }, T));
    expect(spec).toEqual({ leaseDurationSeconds: 1, leaseTransitions: 4, renewTime: "2026-12-05T23:23:47.387000Z", acquireTime: "2026-12-05T23:23:47.387000Z" });
    expect(leaseStep(spec as never, true, "b", 15_000, T + 10).kind).toBe("update");
  });
});
