import { z } from "zod";

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const PART = /(\d+)(s|m|h|d|w)/g;

/** Parses `90s`, `10m`, `1h30m`, `7d`, `168h` to seconds; undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  if (!/^(\d+(s|m|h|d|w))+$/.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(PART)) total += Number(m[1]) * (UNIT_SECONDS[m[2] as string] as number);
  return total;
}

/** The longest duration a resource may give (BanList entries, jail times): 10 years. */
export const MAX_DURATION_SECONDS = 3650 * 86400;
export const MAX_DURATION_TEXT = "3650d (10 years)";

/**
 * A duration in a resource: parts of a positive number (no leading zero, at most 7 digits) and a
 * unit. The API server checks it by this pattern (`forever`, `-1h`, `10`, `1.5h`, `0s` are refused
 * there); zod checks the same and the 10-year bound.
 */
export const DURATION_PATTERN = /^([1-9][0-9]{0,6}(s|m|h|d|w))+$/;

export const DurationString = z
  .string()
  .max(64, "must be a duration like 90s, 10m, 1h, 7d")
  .regex(DURATION_PATTERN, { message: "must be a positive duration like 90s, 10m, 1h30m, 7d (each part a whole number above 0 with s, m, h, d or w)", abort: true })
  .refine((t) => (parseDuration(t) ?? 0) <= MAX_DURATION_SECONDS, { message: `must be at most ${MAX_DURATION_TEXT}` })
  .describe("A duration: a number with s, m, h, d or w, parts may be combined (1h30m); at most 3650d.");
