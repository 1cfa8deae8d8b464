import { describe, expect, it } from "vitest";
import { REPORT_BURST, ReportGate } from "./report-gate.js";

describe("ReportGate", () => {
  it("lets a burst through, then about two reports per declared heartbeat; the excess is counted", () => {
    const gate = new ReportGate();
    let passed = 0;
    for (let i = 0; i < 1000; i++) if (gate.take("h1", 0)) passed += 1;
    expect(passed).toBe(REPORT_BURST);
    expect(gate.dropped).toBe(1000 - REPORT_BURST);
    gate.heartbeat("h1", 10_000);
    // 10 s later: the default of one a second, never more than the burst
    passed = 0;
    for (let i = 0; i < 1000; i++) if (gate.take("h1", 10_000)) passed += 1;
    expect(passed).toBe(REPORT_BURST);
  });

  it("a host with a short heartbeat earns more; other hosts are not held back by one host's flood", () => {
    const gate = new ReportGate();
    for (let i = 0; i < 100; i++) gate.take("h1", 0);
    gate.heartbeat("h1", 200);
    expect([gate.take("h1", 99), gate.take("h1", 200), gate.take("h1", 200)]).toEqual([false, true, true]);
    expect(gate.take("h2", 0)).toBe(true);
  });

  it("remembers a bounded number of hosts", () => {
    const gate = new ReportGate(3);
    for (const h of ["a", "b", "c", "d", "e"]) gate.take(h, 0);
    expect(gate.size).toBe(3);
  });
});
