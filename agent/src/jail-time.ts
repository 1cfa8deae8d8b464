import { isFail2banJail } from "@fleetwall/api/jail-kind";
import { dateFinder, dateTemplates, dateTime, type FoundDate } from "./fail2ban/date.js";
import { compileFail2ban } from "./fail2ban/engine.js";
import { canonicalizer, compileFilter, MAX_LINE, type FilterOptions, type JailFilter } from "./filters.js";

/**
 * When a failure happened, for live detection (docs/detection.md, "Log time and findTime"): its
 * log time when the line has one that parses, else the time it arrived. A failure logged more than
 * findTime before now is not counted (an old log appended, a restored backup, a clock gone wrong);
 * one logged in the future counts as now. `jail test` reads old logs and applies none of this.
 */

/** A year-less stamp (`Dec 31 23:59:59`) more than this ahead of now is last year's. */
export const YEAR_AHEAD_MS = 24 * 3600_000;

/** A matched line: the offender's canonical address and the line's time stamp, if one was found. */
export interface TimedMatch {
  host: string;
  date?: FoundDate | undefined;
}

/**
 * A jail's filter as compileFilter makes it, also returning the matched line's time stamp: an
 * imported filter's own (its datepattern, or fail2ban's default templates), a built-in's found by
 * fail2ban's default templates at the start of the matched line only (gotosocial's `timestamp=`
 * field is not: its failures count at arrival). Journal lines carry no stamp.
 */
export function timedMatcher(jail: JailFilter, options: FilterOptions = {}): (line: string) => TimedMatch | undefined {
  if (isFail2banJail(jail)) {
    const match = compileFail2ban({ ...jail, failRegex: jail.failRegex ?? [] }, { journal: options.journal ?? false });
    const canonical = canonicalizer();
    return (input) => {
      const m = match(input.length > MAX_LINE ? input.slice(0, MAX_LINE) : input);
      const host = m && canonical(m.host);
      return host === undefined ? undefined : { host, date: m?.date };
    };
  }
  const match = compileFilter(jail, [], options);
  // only a stamp the line starts with: one further on may be the client's text (a user name)
  const templates = options.journal ? "none" : dateTemplates("{^LN-BEG}");
  const find = templates === "none" ? undefined : dateFinder(templates);
  return (line) => {
    const host = match(line);
    if (host === undefined) return undefined;
    return { host, date: find?.(line.length > MAX_LINE ? line.slice(0, MAX_LINE) : line) };
  };
}

/**
 * The epoch milliseconds a found stamp names. Times are the host's local time unless the stamp
 * gives a zone; a stamp without a year takes now's, or last year's when that would put it more
 * than YEAR_AHEAD_MS ahead (a December line read in January is last December's, a line of a
 * minute ahead stays this year's). undefined when the stamp does not name a real time.
 */
export function lineTimeMs(found: FoundDate, nowMs: number): number | undefined {
  const now = new Date(nowMs);
  const t = dateTime(found, { year: now.getFullYear(), month: now.getMonth() + 1, day: now.getDate(), hour: now.getHours(), minute: now.getMinutes() });
  if (!t) return undefined;
  if (t.epoch !== undefined) return Number.isFinite(t.epoch) ? t.epoch * 1000 : undefined;
  const g = found.groups;
  const at = (year: number) =>
    t.offset === undefined
      ? new Date(year, t.month - 1, t.day, t.hour, t.minute, t.second, t.ms).getTime()
      : Date.UTC(year, t.month - 1, t.day, t.hour, t.minute, t.second, t.ms) - t.offset * 60_000;
  // the year is inferred only for a stamp with a month and no year (dateTime handles time-only stamps)
  if ((g.m || g.b) && !g.Y && !g.y) {
    const thisYear = at(now.getFullYear());
    const ms = thisYear > nowMs + YEAR_AHEAD_MS ? at(now.getFullYear() - 1) : thisYear;
    return Number.isFinite(ms) ? ms : undefined;
  }
  const ms = at(t.year);
  return Number.isFinite(ms) ? ms : undefined;
}

/** Whether a failure counts, and at what time. */
export type FailureTime = { tooOld: true; lineMs: number } | { tooOld: false; atMs: number };

/**
 * The rule (pure): no log time → arrival (`nowMs`); older than findTime before now → not counted;
 * ahead of now → now (a clock ahead must not keep a failure in the window longer); else its log time.
 */
export function failureTime(lineMs: number | undefined, nowMs: number, findTimeSeconds: number): FailureTime {
  if (lineMs === undefined) return { tooOld: false, atMs: nowMs };
  if (lineMs < nowMs - findTimeSeconds * 1000) return { tooOld: true, lineMs };
  return { tooOld: false, atMs: Math.min(lineMs, nowMs) };
}
