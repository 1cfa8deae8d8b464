import { describe, expect, it } from "vitest";
import { LogThrottle, THROTTLE_MAX_KEYS, ThrottledLines, logDropped } from "./log-throttle.js";

describe("LogThrottle", () => {
  it("lets one line per key per interval through and counts the rest", () => {
    const t = new LogThrottle(10_000);
    const passed = Array.from({ length: 10_000 }, (_, i) => t.pass("signal: bad jail", i / 100)).filter(Boolean).length;
    expect(passed).toBe(1);
    expect(t.pass("signal: other reason", 50)).toBe(true);
    expect(t.due(5_000)).toEqual([]);
    expect(t.due(10_050)).toEqual([{ key: "signal: bad jail", suppressed: 9_999 }]);
    // after its interval a key passes again
    expect(t.pass("signal: bad jail", 10_100)).toBe(true);
  });

  it("tracks a bounded number of keys; the rest share one line", () => {
    const t = new LogThrottle(1000);
    for (let i = 0; i < THROTTLE_MAX_KEYS; i += 1) expect(t.pass(`k${i}`, 0)).toBe(true);
    expect(t.pass("one more", 0)).toBe(false);
    expect(t.pass("and another", 0)).toBe(false);
    expect(t.due(1000).find((d) => d.key === "(other)")).toEqual({ key: "(other)", suppressed: 2 });
  });
});

describe("ThrottledLines", () => {
  it("writes the first line per reason, then one summary per reason with the count", () => {
    let now = 0;
    const lines: { level: string; fields: object; msg: string }[] = [];
    const sink = { info: (fields: object, msg: string) => lines.push({ level: "info", fields, msg }), warn: (fields: object, msg: string) => lines.push({ level: "warn", fields, msg }) };
    const t = new ThrottledLines(sink, "signals not judged (summary)", 10_000, () => now);
    for (let i = 0; i < 1000; i += 1) t.write("info", "over budget", { address: `a${i}` }, "signal not judged");
    expect(t.write("info", "a fleet host", { address: "b" }, "signal not judged")).toBe(true);
    expect(lines.map((l) => l.fields)).toEqual([{ address: "a0" }, { address: "b" }]);
    now = 10_000;
    t.flush();
    expect(lines.slice(2)).toEqual([{ level: "warn", fields: { reason: "over budget", suppressed: 999, intervalMs: 10_000 }, msg: "signals not judged (summary)" }]);
    t.close();
  });

  it("writes the summary on its own once the interval ends, and keeps no timer when nothing is held", async () => {
    const lines: { fields: object; msg: string }[] = [];
    const sink = { info: (fields: object, msg: string) => lines.push({ fields, msg }), warn: (fields: object, msg: string) => lines.push({ fields, msg }) };
    const t = new ThrottledLines(sink, "held back", 50);
    for (let i = 0; i < 3; i += 1) t.write("warn", "k", { i }, "line");
    const deadline = Date.now() + 5_000;
    while (lines.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(lines).toEqual([{ fields: { i: 0 }, msg: "line" }, { fields: { reason: "k", suppressed: 2, intervalMs: 50 }, msg: "held back" }]);
    t.close();
    expect(lines).toHaveLength(2);
  });
});

describe("logDropped", () => {
  it("writes one line per message kind and reason (numbers ignored) however many messages a flood drops", () => {
    const lines: { fields: object; msg: string }[] = [];
    const sink = { info: (fields: object, msg: string) => lines.push({ fields, msg }), warn: (fields: object, msg: string) => lines.push({ fields, msg }) };
    for (let i = 0; i < 1_000; i += 1) logDropped(sink, { reason: `replayed revision ${i} < applied 5000` }, "desired state dropped");
    for (let i = 0; i < 1_000; i += 1) logDropped(sink, { reason: "bad signature" }, "fleet protection list dropped");
    expect(lines.map((l) => l.msg)).toEqual(["desired state dropped", "fleet protection list dropped"]);
  });
});
