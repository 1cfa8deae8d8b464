import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BanList } from "./banlist.js";
import { DURATION_PATTERN, DurationString, MAX_DURATION_SECONDS, boundedDurationMs, formatDuration, parseDuration, parseDurationMs } from "./duration.js";

describe("the duration grammar", () => {
  it.each([
    ["500ms", 500],
    ["30s", 30_000],
    ["10m", 600_000],
    ["1h30m", 5_400_000],
    ["1d", 86_400_000],
    ["30d", 2_592_000_000],
    ["2w", 1_209_600_000],
    ["1h0m5s", 3_605_000],
    ["1s500ms", 1500],
    [" 7d ", 604_800_000],
  ])("%j is %i ms", (text, ms) => expect(parseDurationMs(text)).toBe(ms));

  it.each([
    ["10", "has no unit: add one, e.g. 10s, 10m or 10ms"],
    ["1.5", "has no unit"],
    ["", "a duration is needed"],
    ["1.5h", "is not a duration like"],
    ["-5s", "is not a duration like"],
    ["5 s", "is not a duration like"],
    ["1y", "is not a duration like"],
    ["30m1h", "largest first"],
    ["1m1m", "largest first"],
    ["99999999999999999w", "too long"],
  ])("refuses %j: %s", (text, message) => expect(() => parseDurationMs(text)).toThrow(message));

  it("prints what it parses (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 * 365 * 86_400_000 }), (ms) => {
        expect(parseDurationMs(formatDuration(ms))).toBe(ms);
      }),
    );
  });

  it("gives seconds for resource fields, undefined for what is not a duration", () => {
    expect(parseDuration("1h30m")).toBe(5400);
    expect(parseDuration("10")).toBeUndefined();
  });

  it.each([
    ["10m", true],
    ["500ms", false],
    ["1s500ms", false],
    ["10", false],
  ])("a resource field takes %j: %s (whole seconds, at least 1s)", (text, ok) => expect(DurationString.safeParse(text).success).toBe(ok));

  it("bounds a flag and names the bounds", () => {
    const flag = boundedDurationMs(100, 600_000);
    expect(flag.parse("1s")).toBe(1000);
    expect(flag.safeParse("10ms").error?.issues[0]?.message).toBe("10ms is out of range: must be between 100ms and 10m");
    expect(flag.safeParse("10").error?.issues[0]?.message).toMatch(/has no unit/);
  });
});

const banList = (entry: Record<string, unknown>) => BanList.safeParse({ apiVersion: "fleetwall.io/v1alpha1", kind: "BanList", metadata: { name: "l" }, spec: { entries: [{ cidr: "203.0.113.7", ...entry }] } });

describe("DurationString", () => {
  it.each(["90s", "10m", "1h30m", "7d", "168h", "2w", "3650d", "520w"])("accepts %s", (d) => {
    expect(DurationString.safeParse(d).success).toBe(true);
    expect(DURATION_PATTERN.test(d)).toBe(true);
  });

  it.each([
    ["forever", "not a duration"],
    ["-1h", "not a duration"],
    ["10", "has no unit"],
    ["1.5h", "not a duration"],
    ["0s", "too short"],
    ["01h", "without a leading zero"],
    ["99999999999999999999999d", "too long"],
    ["3651d", "at most 3650d"],
    ["522w", "at most 3650d"],
    ["60000d", "at most 3650d"],
  ])("refuses %s (%s)", (d, message) => {
    const r = DurationString.safeParse(d);
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toContain(message);
  });

  it("the API server's pattern refuses whatever has no positive parts, as zod does", () => {
    for (const d of ["forever", "-1h", "10", "1.5h", "0s", "1h0m"]) expect(DURATION_PATTERN.test(d)).toBe(false);
  });

  it("the bound is 10 years", () => expect(parseDuration("3650d")).toBe(MAX_DURATION_SECONDS));
});

describe("BanList entry lifetimes", () => {
  it.each([
    [{ duration: "99999999999999999999999d" }, ["spec", "entries", 0, "duration"]],
    [{ duration: "60000d" }, ["spec", "entries", 0, "duration"]],
    [{ duration: "0s" }, ["spec", "entries", 0, "duration"]],
  ])("refuses %j naming the field", (entry, path) => {
    const r = banList(entry);
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(path);
  });
});
