import { describe, expect, it } from "vitest";
import { LogThrottle, THROTTLE_MAX_KEYS } from "./log-throttle.js";

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
