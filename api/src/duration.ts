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

export const DurationString = z
  .string()
  .refine((t) => (parseDuration(t) ?? 0) > 0, { message: "must be a positive duration like 90s, 10m, 1h, 7d" })
  .describe("A duration: a number with s, m, h, d or w, parts may be combined (1h30m).");
