import { describe, expect, it } from "vitest";
import { JailsNotCompiledError } from "./ban-keeper.js";
import { MAX_DELIVER } from "./bus-limits.js";
import { SignalRefusedError, afterFailure } from "./signal-consumer.js";

describe("afterFailure", () => {
  it.each([
    ["a refusal that would recur, at its first delivery", new SignalRefusedError("x"), 1, "term"],
    ["a host's jails not compiled yet", new JailsNotCompiledError("x"), 1, "nak"],
    ["a failed put", new Error("timeout"), 1, "nak"],
    ["a failed put at the last delivery", new Error("timeout"), MAX_DELIVER, "term"],
  ] as const)("%s: %s", (_, error, delivery, outcome) => expect(afterFailure(error, delivery)).toBe(outcome));
});
