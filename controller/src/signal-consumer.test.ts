import { describe, expect, it } from "vitest";
import { JailsNotCompiledError } from "./ban-keeper.js";
import { MAX_DELIVER, redeliverDelayMs } from "./bus-limits.js";
import { SignalRefusedError, afterFailure } from "./signal-consumer.js";

describe("afterFailure", () => {
  it.each([
    ["a refusal that would recur, at its first delivery", new SignalRefusedError("x"), 1, "term"],
    ["a host's jails not compiled yet", new JailsNotCompiledError("x"), 1, "nak"],
    ["a failed put", new Error("timeout"), 1, "nak"],
    ["a failed put at the last delivery", new Error("timeout"), MAX_DELIVER, "term"],
  ] as const)("%s: %s", (_, error, delivery, outcome) => expect(afterFailure(error, delivery)).toBe(outcome));
});

describe("redeliverDelayMs", () => {
  it("spaces a failed signal's deliveries from 1 s, doubling to 30 s: all of them span minutes, not seconds", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(redeliverDelayMs)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
    const span = Array.from({ length: MAX_DELIVER - 1 }, (_, i) => redeliverDelayMs(i + 1)).reduce((a, b) => a + b, 0);
    expect(span).toBeGreaterThan(5 * 60_000);
  });
});
