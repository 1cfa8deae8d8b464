import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PER_UNIT_PER_MINUTE, ReporterLog, budgetUnit } from "./reporter-log.js";

const limits = { windowMs: 60_000, maxAddresses: 3, maxPerAddress: 2, maxReporters: 2, maxPerReporter: 1000 };

describe("ReporterLog", () => {
  it("remembers at most maxAddresses addresses, forgetting the least recently reported", () => {
    const log = new ReporterLog(limits);
    for (const a of ["a1", "a2", "a3"]) log.record(a, "h", 0, 0);
    log.record("a1", "h2", 0, 0); // a1 is now the most recent
    log.record("a4", "h", 0, 0);
    expect(log.size).toBe(3);
    expect(log.evicted).toBe(1);
    expect([...log.record("a1", "h3", 0, 0).keys()]).toEqual(["h2", "h3"]); // a1 kept, at most 2 reporters
    expect(log.record("a2", "h", 0, 0).size).toBe(1); // a2 had been forgotten: a fresh entry
  });

  it("prunes reports outside the window, and dates no report after now", () => {
    const log = new ReporterLog(limits);
    expect(log.record("a", "h", 10_000_000, 5).get("h")).toBe(5);
    log.record("b", "h", 100_000, 100_000);
    log.prune(120_000);
    expect(log.size).toBe(1);
  });

  it("grows by nothing past its cap under a flood of distinct addresses", () => {
    const log = new ReporterLog({ ...limits, maxAddresses: 1000, maxPerReporter: 5000 });
    for (let i = 0; i < 50_000; i += 1) log.record(`203.0.${i >> 8}.${i & 255}`, "h", i, i);
    expect(log.size).toBe(1000);
  });

  it("spends a reporter's budget over the last 60 s: each spend comes back when it is 60 s old", () => {
    const log = new ReporterLog(limits);
    expect(log.budgetLeft("h", 2, 0)).toBe(2);
    log.charge("h", 2, 0);
    log.charge("h", 2, 1000);
    expect(log.budgetLeft("h", 2, 59_999)).toBe(0);
    expect(log.budgetLeft("h", 2, 60_000)).toBe(1);
    expect(log.budgetLeft("h", 2, 61_000)).toBe(2);
    expect(log.budgetLeft("other", 2, 0)).toBe(2);
  });

  it("gives a burst across a clock minute's end the budget once, not twice", () => {
    const log = new ReporterLog(limits);
    for (let i = 0; i < 10; i += 1) {
      expect(log.budgetLeft("h", 10, 59_500), `spend ${i}`).toBeGreaterThan(0);
      log.charge("h", 10, 59_500);
    }
    expect(log.budgetLeft("h", 10, 59_500)).toBe(0);
    // a new clock minute, one second later: still nothing
    expect(log.budgetLeft("h", 10, 60_500)).toBe(0);
    expect(log.budgetLeft("h", 10, 119_499)).toBe(0);
    // once the earliest spends are 60 s old
    expect(log.budgetLeft("h", 10, 119_500)).toBe(10);
  });

  it("comes back one spend at a time, as each turns 60 s old", () => {
    const log = new ReporterLog(limits);
    for (let i = 0; i < 3; i += 1) log.charge("h", 3, 50_000 + i * 5_000); // 0:50, 0:55, 1:00
    expect(log.budgetLeft("h", 3, 61_000)).toBe(0);
    expect(log.budgetLeft("h", 3, 110_000)).toBe(1);
    log.charge("h", 3, 110_000);
    expect(log.budgetLeft("h", 3, 114_999)).toBe(0);
    expect(log.budgetLeft("h", 3, 115_000)).toBe(1);
    expect(log.budgetLeft("h", 3, 120_000)).toBe(2);
    expect(log.budgetLeft("h", 3, 170_000)).toBe(3);
  });

  it("keeps at most the budget's count of spends per reporter and at most maxReporters reporters; prune forgets old spends", () => {
    const log = new ReporterLog(limits);
    // charged past its budget (the caller did not check): the oldest spends are forgotten
    for (let i = 0; i < 1000; i += 1) log.charge("h", 3, i);
    expect(log.budgetLeft("h", 3, 1000)).toBe(0);
    expect(log.budgetLeft("h", 3, 60_996)).toBe(0);
    expect(log.budgetLeft("h", 3, 60_997)).toBe(1); // only spends 997, 998, 999 were kept
    // maxReporters is 2: the least recently charged is forgotten
    log.charge("h2", 3, 1000);
    log.charge("h3", 3, 1000);
    expect(log.budgetLeft("h", 3, 1000)).toBe(3);
    expect(log.budgetLeft("h2", 3, 1000)).toBe(2);
    log.prune(61_000);
    log.charge("h4", 3, 61_000); // h2 and h3 were pruned: nothing to evict, h4 starts afresh
    expect(log.budgetLeft("h4", 3, 61_000)).toBe(2);
  });

  it("one reporter's flood evicts only its own reports, never another host's", () => {
    const log = new ReporterLog({ ...limits, maxAddresses: 1000, maxPerReporter: 100 });
    log.record("198.51.100.1", "honest", 0, 0);
    for (let i = 0; i < 50_000; i += 1) log.record(`203.0.${i >> 8}.${i & 255}`, "flooder", i, i);
    expect(log.reportsOf("flooder")).toBe(100);
    expect(log.size).toBe(101);
    expect(log.evicted).toBe(0);
    expect(log.evictedOwn).toBe(49_900);
    // the honest host's report is still there: a second reporter makes a quorum of two
    expect([...log.record("198.51.100.1", "second", 60_000, 60_000).keys()]).toEqual(["honest", "second"]);
  });

  it("keeps its indexes consistent through pruning and the per-address cap", () => {
    const log = new ReporterLog({ ...limits, maxPerReporter: 2 });
    log.record("a", "h1", 0, 0);
    log.record("a", "h2", 0, 0);
    log.record("a", "h3", 0, 0); // h1 leaves a (2 reporters at most)
    expect(log.reportsOf("h1")).toBe(0);
    log.prune(120_000);
    expect(log.size).toBe(0);
    expect(log.reportsOf("h2") + log.reportsOf("h3")).toBe(0);
  });

  it("charges addresses of one /64 as one unit of a reporter's budget, up to PER_UNIT_PER_MINUTE of them", () => {
    const log = new ReporterLog(limits);
    const unit = budgetUnit("2001:db8:66:1::1");
    expect(unit).toBe("2001:db8:66:1::/64");
    expect(budgetUnit("203.0.113.5")).toBe("203.0.113.5");
    // an attacker in one /64 trips the honest host's jail with many /128s: one unit of its budget of 2
    for (let i = 1; i <= PER_UNIT_PER_MINUTE; i += 1) {
      const a = `2001:db8:66:1::${i.toString(16)}`;
      expect(log.budgetLeft("h", 2, 0, budgetUnit(a)), a).toBeGreaterThan(0);
      log.charge("h", 2, 0, budgetUnit(a));
    }
    // a real attacker elsewhere still gets a fleet ban from this host
    expect(log.budgetLeft("h", 2, 0, budgetUnit("198.51.100.7"))).toBe(1);
    // past PER_UNIT_PER_MINUTE, more of that /64 costs another unit
    expect(log.budgetLeft("h", 2, 0, unit)).toBe(1);
    log.charge("h", 2, 0, unit);
    expect(log.budgetLeft("h", 2, 0, unit)).toBe(1); // the new unit's part-used share
    expect(log.budgetLeft("h", 2, 0, budgetUnit("198.51.100.7"))).toBe(0);
    expect(log.budgetLeft("h", 2, 60_000, budgetUnit("198.51.100.7"))).toBe(2);
  });

  it("keeps the /64 rule across a clock minute's end: a unit's share lasts 60 s from its first address", () => {
    const log = new ReporterLog(limits);
    const unit = budgetUnit("2001:db8:66:1::1");
    log.charge("h", 2, 59_500, unit); // one address of the /64: a share with 15 addresses left
    log.charge("h", 2, 59_500, budgetUnit("203.0.113.7"));
    // a new clock minute: both spends still count, and the /64's share is still open
    expect(log.budgetLeft("h", 2, 60_500, budgetUnit("198.51.100.7"))).toBe(0);
    for (let i = 2; i <= PER_UNIT_PER_MINUTE; i += 1) {
      expect(log.budgetLeft("h", 2, 60_500, unit), `address ${i}`).toBe(1);
      log.charge("h", 2, 60_500, unit);
    }
    // the share is used up: the 17th address of the /64 needs a unit, and none is left
    expect(log.budgetLeft("h", 2, 60_500, unit)).toBe(0);
    expect(log.budgetLeft("h", 2, 119_499, unit)).toBe(0);
    // 60 s after the share's first address, both units come back
    expect(log.budgetLeft("h", 2, 119_500, unit)).toBe(2);
    log.charge("h", 2, 119_500, unit);
    expect(log.budgetLeft("h", 2, 119_500, unit)).toBe(1); // a fresh share of the /64
    expect(log.budgetLeft("h", 2, 119_500, budgetUnit("198.51.100.7"))).toBe(1);
  });

  it("allows a spend exactly when fewer than the budget were allowed in the last 60 s (addresses of separate units, any timing)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(fc.integer({ min: 0, max: 30_000 }), { maxLength: 80 }), (budget, gaps) => {
        const log = new ReporterLog(limits);
        const allowed: number[] = [];
        let now = 0;
        for (const [i, gap] of gaps.entries()) {
          now += gap;
          const recent = allowed.filter((t) => now - t < 60_000).length;
          const left = log.budgetLeft("h", budget, now, `198.51.100.${i}`);
          expect(left).toBe(budget - recent);
          if (left > 0) {
            log.charge("h", budget, now, `198.51.100.${i}`);
            allowed.push(now);
          }
          if (i % 7 === 0) log.prune(now);
        }
        // no 60 s span holds more than the budget
        for (const t of allowed) expect(allowed.filter((u) => u >= t && u - t < 60_000).length).toBeLessThanOrEqual(budget);
      }),
    );
  });
});
