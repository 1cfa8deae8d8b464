import { describe, expect, it } from "vitest";
import { BanList } from "./banlist.js";
import { DURATION_PATTERN, DurationString, MAX_DURATION_SECONDS, parseDuration } from "./duration.js";

const banList = (entry: Record<string, unknown>) => BanList.safeParse({ apiVersion: "fleetwall.io/v1alpha1", kind: "BanList", metadata: { name: "l" }, spec: { entries: [{ cidr: "203.0.113.7", ...entry }] } });

describe("DurationString", () => {
  it.each(["90s", "10m", "1h30m", "7d", "168h", "2w", "3650d", "520w"])("accepts %s", (d) => {
    expect(DurationString.safeParse(d).success).toBe(true);
    expect(DURATION_PATTERN.test(d)).toBe(true);
  });

  it.each([
    ["forever", "positive duration"],
    ["-1h", "positive duration"],
    ["10", "positive duration"],
    ["1.5h", "positive duration"],
    ["0s", "positive duration"],
    ["01h", "positive duration"],
    ["99999999999999999999999d", "positive duration"],
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
