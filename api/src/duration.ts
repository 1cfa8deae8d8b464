import { z } from "zod";

/**
 * The one duration grammar of fleetwall, for every flag and every resource field: whole numbers
 * with a unit, largest unit first, each unit at most once: `500ms`, `30s`, `10m`, `1h30m`, `7d`,
 * `2w`. A bare number is refused (is `10` seconds or milliseconds?), as are fractions and
 * negative values.
 */
const UNIT_MS = { w: 604_800_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;
const ORDER: readonly Unit[] = ["w", "d", "h", "m", "s", "ms"];
const WHOLE = /^(\d+(ms|s|m|h|d|w))+$/;
const PART = /(\d+)(ms|s|m|h|d|w)/g;

export const DURATION_EXAMPLES = "500ms, 30s, 10m, 1h30m, 7d";

export class DurationError extends Error {
  override name = "DurationError";
}

/** Milliseconds of a duration text; throws a DurationError that says what is wrong. */
export function parseDurationMs(input: string): number {
  const text = input.trim();
  if (text === "") throw new DurationError(`a duration is needed, like ${DURATION_EXAMPLES}`);
  if (/^[0-9.]+$/.test(text)) throw new DurationError(`"${text}" has no unit: add one, e.g. ${text}s, ${text}m or ${text}ms`);
  if (!WHOLE.test(text)) throw new DurationError(`"${text}" is not a duration like ${DURATION_EXAMPLES} (whole numbers, units w, d, h, m, s, ms)`);
  let total = 0;
  let last = -1;
  for (const m of text.matchAll(PART)) {
    const rank = ORDER.indexOf(m[2] as Unit);
    if (rank <= last) throw new DurationError(`"${text}": give each unit once, largest first (1h30m, not 30m1h)`);
    last = rank;
    total += Number(m[1]) * UNIT_MS[m[2] as Unit];
  }
  if (!Number.isSafeInteger(total)) throw new DurationError(`"${text}" is too long`);
  return total;
}

/** Parses a duration to seconds (`90s`, `1h30m`, `7d`); undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  try {
    return parseDurationMs(text) / 1000;
  } catch {
    return undefined;
  }
}

/** `90000` ms as `1m30s`, in days at most (`400d`, not `57w1d`): for messages. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  let rest = ms;
  let out = "";
  for (const unit of ORDER.slice(1)) {
    const n = Math.floor(rest / UNIT_MS[unit]);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * UNIT_MS[unit];
  }
  return out;
}

/**
 * A duration within bounds, as milliseconds: for flags (`--heartbeat`, `--max-ban`). The message
 * names the bounds in the grammar, so `--heartbeat 10ms` says what would be accepted.
 */
export function boundedDurationMs(minMs: number, maxMs: number) {
  return z.string().transform((text, ctx) => {
    let ms: number;
    try {
      ms = parseDurationMs(text);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
      return z.NEVER;
    }
    if (ms < minMs || ms > maxMs) {
      ctx.addIssue({ code: "custom", message: `${text} is out of range: must be between ${formatDuration(minMs)} and ${formatDuration(maxMs)}` });
      return z.NEVER;
    }
    return ms;
  });
}

/** Why a duration field's text is not acceptable (whole seconds, at least one second), or undefined. */
function durationFieldProblem(text: string): string | undefined {
  let ms: number;
  try {
    ms = parseDurationMs(text);
  } catch (error) {
    return (error as Error).message;
  }
  if (ms < 1000) return `${text} is too short: at least 1s`;
  if (ms % 1000 !== 0) return `${text} is not a whole number of seconds`;
  return undefined;
}

/** The longest duration a resource may give (BanList entries, jail times): 10 years. */
export const MAX_DURATION_SECONDS = 3650 * 86400;
export const MAX_DURATION_TEXT = "3650d (10 years)";

/**
 * The form of a resource's duration, which the API server checks too (`forever`, `-1h`, `10`, `1.5h`,
 * `0s`, `01h`, `1 hour`, `30m1h` are refused there): each unit at most once, largest first, each part a
 * whole number above 0 without a leading zero (at most 7 digits). The rest (whole seconds, the 10-year
 * bound) is zod's.
 */
const PATTERN_PART = "[1-9][0-9]{0,6}";
export const DURATION_PATTERN = new RegExp(`^(${PATTERN_PART}w)?(${PATTERN_PART}d)?(${PATTERN_PART}h)?(${PATTERN_PART}m)?(${PATTERN_PART}s)?(${PATTERN_PART}ms)?$`);

export const DurationString = z
  .string()
  .max(64, `must be a duration like ${DURATION_EXAMPLES}`)
  .superRefine((t, ctx) => {
    const problem = durationFieldProblem(t);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
    else if (!DURATION_PATTERN.test(t)) ctx.addIssue({ code: "custom", message: `${t}: each part must be a whole number above 0 without a leading zero, like ${DURATION_EXAMPLES}` });
    else if ((parseDuration(t) as number) > MAX_DURATION_SECONDS) ctx.addIssue({ code: "custom", message: `${t} is too long: at most ${MAX_DURATION_TEXT}` });
  })
  .meta({ pattern: DURATION_PATTERN.source, minLength: 2 })
  .describe("A duration: a number with s, m, h, d or w, parts may be combined (1h30m); at most 3650d.");
