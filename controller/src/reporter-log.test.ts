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

  it("spends a reporter's budget per minute", () => {
    const log = new ReporterLog(limits);
    expect(log.budgetLeft("h", 2, 0)).toBe(2);
    log.charge("h", 0);
    log.charge("h", 1000);
    expect(log.budgetLeft("h", 2, 59_000)).toBe(0);
    expect(log.budgetLeft("h", 2, 60_000)).toBe(2);
    expect(log.budgetLeft("other", 2, 0)).toBe(2);
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
      log.charge("h", 0, budgetUnit(a));
    }
    // a real attacker elsewhere still gets a fleet ban from this host
    expect(log.budgetLeft("h", 2, 0, budgetUnit("198.51.100.7"))).toBe(1);
    // past PER_UNIT_PER_MINUTE, more of that /64 costs another unit
    expect(log.budgetLeft("h", 2, 0, unit)).toBe(1);
    log.charge("h", 0, unit);
    expect(log.budgetLeft("h", 2, 0, unit)).toBe(1); // the new unit's part-used share
    expect(log.budgetLeft("h", 2, 0, budgetUnit("198.51.100.7"))).toBe(0);
    expect(log.budgetLeft("h", 2, 60_000, budgetUnit("198.51.100.7"))).toBe(2);
  });
});
