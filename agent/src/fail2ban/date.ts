/**
 * fail2ban's date detection, for imported filters: a `datepattern` (strptime fields, `{^LN-BEG}`,
 * `EPOCH`, `{NONE}`, …) or fail2ban's default templates find the time stamp, which is cut out of
 * the line before the regexes run (fail2ban matches `before + after`). Pure; every regex is linear.
 */

import { caseless, unrollCounted, UntranslatableRegex } from "./regex.js";

export { dateFinder, findDate } from "./date-find.js";

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const MON = "(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:tember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)";
const DAY = "(?:Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?)";
const FIELDS: Readonly<Record<string, string>> = {
  a: `(?<a>${DAY})`, A: `(?<a>${DAY})`, b: `(?<b>${MON})`, B: `(?<b>${MON})`,
  d: "(?<d>[1-2]\\d|[0 ]?[1-9]|3[0-1])", Exd: "(?<d>[1-2]\\d|0[1-9]|3[0-1])",
  m: "(?<m>0?[1-9]|1[0-2])", Exm: "(?<m>0[1-9]|1[0-2])",
  Y: "(?<Y>\\d{4})", ExY: "(?<Y>(?:19|20)\\d\\d)", y: "(?<y>\\d{2})", Exy: "(?<y>\\d{2})",
  H: "(?<H>[0-1]?\\d|2[0-3])", ExH: "(?<H>[0-1]\\d|2[0-3])", k: " ?(?<H>[0-2]?\\d)", Exk: " ?(?<H>[0-1]?\\d|2[0-3])",
  I: "(?<I>1[0-2]|0?[1-9])", l: " ?(?<I>1?\\d)", Exl: " ?(?<I>1[0-2]|\\d)", p: "(?<p>[AaPp][Mm])",
  M: "(?<M>[0-5]?\\d)", ExM: "(?<M>[0-5]\\d)", S: "(?<S>[0-5]?\\d|6[0-1])", ExS: "(?<S>[0-5]\\d|6[0-1])",
  f: "(?<f>\\d{1,6})", j: "(?<j>\\d{1,3})", s: "(?<s>\\d{10,11})",
  z: "(?<z>Z|UTC|GMT|[+-][01]\\d(?::?\\d{2})?)", Exz: "(?<z>Z|UTC|GMT|[+-][01]\\d(?::?\\d{2})?)",
  Z: "(?<Z>Z|[A-Z]{3,5})", ExZ: "(?<Z>Z|[A-Z]{3,5})", "%": "%",
};

/** fail2ban's default templates, in its order. */
const DEFAULTS = [
  "%ExY(?P<_sep>[-/.])%m(?P=_sep)%d(?:T|  ?)%H:%M:%S(?:[.,]%f)?(?:\\s*%z)?",
  "(?:%a )?%b %d %k:%M:%S(?:\\.%f)?(?: %ExY)?",
  "(?:%a )?%b %d %ExY %k:%M:%S(?:\\.%f)?",
  "%d(?P<_sep>[-/])%m(?P=_sep)(?:%ExY|%Exy) %k:%M:%S",
  "%d(?P<_sep>[-/])%b(?P=_sep)%ExY[ :]?%H:%M:%S(?:\\.%f)?(?: %z)?",
  "%m/%d/%ExY:%H:%M:%S",
  "%m-%d-%ExY %k:%M:%S(?:\\.%f)?",
  "EPOCH",
  "{^LN-BEG}%H:%M:%S",
  "^<%m/%d/%Exy@%H:%M:%S>",
  "%Exy%Exm%Exd  ?%H:%M:%S",
  "%b %d, %ExY %I:%M:%S %p",
  "^%b-%d-%Exy %k:%M:%S",
  "%ExY%Exm%Exd(?:T|  ?)%ExH%ExM%ExS(?:[.,]%f)?(?:\\s*%z)?",
  "(?:%Z )?(?:%a )?%b %d %k:%M:%S(?:\\.%f)?(?: %ExY)?",
  "(?:%z )?(?:%a )?%b %d %k:%M:%S(?:\\.%f)?(?: %ExY)?",
  "TAI64N",
];

/** A template's regex: with indices only when the stamp's group does not end it (they cost). */
function withSpan(src: string, flags: string): RegExp {
  const g = src.indexOf("(?<_date>");
  let depth = 0;
  let close = -1;
  for (let i = g; g >= 0 && i < src.length && close < 0; i++) {
    if (src[i] === "\\") i++;
    else if (src[i] === "(") depth++;
    else if (src[i] === ")" && --depth === 0) close = i;
  }
  // a datepattern is the user's regex too: it must run in linear time (docs/detection.md)
  let source = src;
  try {
    new RegExp(source, `${flags}l`);
  } catch {
    source = unrollCounted(src);
    try {
      new RegExp(source, `${flags}l`);
    } catch (e) {
      throw new UntranslatableRegex(`datepattern ${JSON.stringify(src.slice(0, 80))} cannot run in linear time: ${(e as Error).message}`);
    }
  }
  return new RegExp(source, close === src.length - 1 ? flags : flags + "d");
}

export interface DateTemplate {
  re: RegExp;
  /** Only at the start of the line. */
  lineBegin: boolean;
  wordBegin: boolean;
  wordEnd: boolean;
  epoch?: "s" | "ms";
}

export interface FoundDate {
  readonly start: number;
  readonly end: number;
  readonly groups: Record<string, string | undefined>;
  readonly epoch?: "s" | "ms" | undefined;
}


/** One strptime-style pattern (Python regex syntax) → a template. */
export function dateTemplate(pattern: string, anchored = false): DateTemplate {
  let p = pattern.trim();
  let wordBegin = true;
  let wordEnd = true;
  let lineBegin = anchored;
  if (/\{UNB\}/i.test(p)) {
    p = p.replace(/\{UNB\}/gi, "");
    wordBegin = wordEnd = false;
  }
  if (p.startsWith("{^LN-BEG}")) {
    p = p.slice(9);
    lineBegin = true;
  }
  if (p.startsWith("**")) [p, wordBegin] = [p.slice(2), false];
  if (p.endsWith("**")) [p, wordEnd] = [p.slice(0, -2), false];
  const upper = p.toUpperCase();
  if (upper === "TAI64N" || upper === "^TAI64N") {
    return { re: new RegExp(`${lineBegin || upper[0] === "^" ? "^" : ""}(?<_date>@(?<tai>[0-9a-f]{24}))`, ""), lineBegin: lineBegin || upper[0] === "^", wordBegin: false, wordEnd: true, epoch: "s" };
  }

  // a back-reference to the separator group needs backtracking: any separator of the class will do
  const seps: Record<string, string> = {};
  p = p.replace(/\(\?P<(\w+)>(\[[^\]]*\])\)/g, (_, n: string, cls: string) => ((seps[n] = cls), cls));
  p = p.replace(/\(\?P=(\w+)\)/g, (_, n: string) => seps[n] ?? "");
  if (/^\^|^\(\?:\^/.test(p)) lineBegin = true;
  const ci = /%[aAbBp]/.test(p);
  let src = p.replace(/%(Ex[a-zA-Z]|[a-zA-Z%])/g, (all, f: string) => FIELDS[f] ?? all).replace(/\(\?P</g, "(?<").replace(/\(\?iu?\)/g, "");
  // a field used twice: JavaScript needs distinct group names
  const used = new Map<string, number>();
  src = src.replace(/\(\?<(\w+)>/g, (_, n: string) => {
    const k = (used.get(n) ?? 0) + 1;
    used.set(n, k);
    return k === 1 ? `(?<${n}>` : `(?<${n}__${k}>`;
  });
  // the time stamp is the first plain group when there is one (a datepattern's prematch is not cut),
  // else the whole pattern, without the up to two non-word characters a line-begin anchor allows
  const grouped = /(?<!\\)\((?!\?)/.exec(src);
  src = grouped ? src.slice(0, grouped.index) + "(?<_date>" + src.slice(grouped.index + 1) : `(?<_date>${src})`;
  if (lineBegin && !src.startsWith("^") && !src.startsWith("(?<_date>^")) src = "^(?:\\W{0,2})?" + src;
  // month and day names in any case, as fail2ban's (?i); the linear engine has no ignore-case flag
  return { re: withSpan(ci ? caseless(src) : src, ""), lineBegin, wordBegin: wordBegin && !lineBegin, wordEnd };
}

/**
 * `EPOCH`/`LEPOCH`: seconds (or milliseconds) at the start of the line, in `[…]` there, or in
 * SELinux's `audit(…:N)`; anchored (`{^LN-BEG}EPOCH`), only the first two.
 */
function epochTemplates(p: string): DateTemplate[] {
  const long = /LEPOCH/i.test(p);
  const anchored = /^(\{\^LN-BEG\}|\^)/i.test(p);
  const n = long ? "(?<s>\\d{10,11}(?:\\d{3}(?:\\.\\d{1,6}|\\d{3})?)?)" : "(?<s>\\d{10,11})(?:\\.\\d{3,6})?";
  const t = (src: string, lineBegin: boolean): DateTemplate => ({ re: withSpan(src, ""), lineBegin, wordBegin: false, wordEnd: true, epoch: long ? "ms" : "s" });
  const out = [t(`^(?<_date>${n})`, true), t(`^\\[(?<_date>${n})\\]`, true)];
  return anchored ? out : [...out, t(`\\baudit\\((?<_date>${n}):\\d+\\)`, false)];
}

const expand = (p: string): DateTemplate[] => (/^(\{\^LN-BEG\}|\^)?L?EPOCH$/i.test(p) ? epochTemplates(p) : [dateTemplate(p)]);

/** The templates a `datepattern` value stands for (undefined: fail2ban's defaults). */
export function dateTemplates(datepattern: string | undefined): DateTemplate[] | "none" {
  const patterns = (datepattern ?? "").split("\n").map((s) => s.trim()).filter(Boolean);
  if (!patterns.length) return defaults(false);
  const out: DateTemplate[] = [];
  for (const p of patterns) {
    const key = p.toUpperCase();
    if (key === "{NONE}") return "none";
    if (key === "{^LN-BEG}") out.push(...defaults(true));
    else if (key === "{DEFAULT}") out.push(...defaults(false));
    else if (key.includes("{DATE}")) for (const d of DEFAULTS) out.push(dateTemplate(p.replace(/\{DATE\}/i, d.replace(/^\{\^LN-BEG\}|^\^/, ""))));
    else out.push(...expand(p));
  }
  return out;
}

/**
 * A default template whose regex is built when first used: a log keeps its format, so most of
 * the 30-odd are never tried (fail2ban's own, known to translate: building them cost start-up).
 */
function lazy(pattern: string): DateTemplate[] {
  if (/^(\{\^LN-BEG\}|\^)?L?EPOCH$/i.test(pattern)) return epochTemplates(pattern);
  let built: DateTemplate | undefined;
  const make = () => (built ??= dateTemplate(pattern));
  return [{ get re() { return make().re; }, get lineBegin() { return make().lineBegin; }, get wordBegin() { return make().wordBegin; }, get wordEnd() { return make().wordEnd; }, get epoch() { return make().epoch; } }];
}

function defaults(lineBeginOnly: boolean): DateTemplate[] {
  const anchored = DEFAULTS.flatMap((d) => lazy(d.startsWith("^") || d.startsWith("{") ? d : `{^LN-BEG}${d}`));
  return lineBeginOnly ? anchored : [...anchored, ...DEFAULTS.filter((d) => !d.startsWith("^") && !d.startsWith("{")).flatMap(lazy)];
}

/** Zone abbreviations fail2ban knows without a zone database. */
const ZONES: Readonly<Record<string, string>> = {
  Z: "Z", UTC: "Z", GMT: "Z", UT: "Z", CET: "+0100", CEST: "+0200", EET: "+0200", EEST: "+0300", WET: "+0000", WEST: "+0100",
  EST: "-0500", EDT: "-0400", CST: "-0600", CDT: "-0500", MST: "-0700", MDT: "-0600", PST: "-0800", PDT: "-0700", JST: "+0900",
};

export interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  ms: number;
  /** Minutes east of UTC when the stamp says; otherwise the time is local. */
  offset?: number;
  /** Seconds since the epoch, for EPOCH stamps. */
  epoch?: number;
}

/** The time a found stamp names; the year, when missing, is now's, or the last one when that is ahead. */
export function dateTime(found: FoundDate, now: { year: number; month: number; day: number; hour?: number; minute?: number }): LocalTime | undefined {
  const g = found.groups;
  // TAI64N: the 15 hex digits after "@4" are the seconds since the epoch
  if (g.tai) return { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, ms: 0, epoch: parseInt(g.tai.slice(1, 16), 16) };
  if (found.epoch && g.s) return { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, ms: 0, epoch: found.epoch === "ms" && g.s.length >= 13 ? Number(g.s) / 1000 : Number(g.s) };
  const month = g.m ? Number(g.m) : g.b ? MONTHS.indexOf(g.b.slice(0, 3).toLowerCase()) + 1 : now.month;
  const day = g.d ? Number(g.d.trim()) : now.day;
  let year = g.Y ? Number(g.Y) : g.y ? 2000 + Number(g.y) : now.year;
  if (!g.Y && !g.y && (month > now.month || (month === now.month && day > now.day))) year -= 1;
  let hour = Number(g.H ?? g.I ?? 0);
  if (g.p) hour = (hour % 12) + (/p/i.test(g.p) ? 12 : 0);
  // a time without a date is today's, or yesterday's when that is still ahead
  if (!g.m && !g.b && !g.d && now.hour !== undefined && hour * 60 + Number(g.M ?? 0) > now.hour * 60 + (now.minute ?? 0)) {
    const y = new Date(Date.UTC(year, month - 1, day - 1));
    return { year: y.getUTCFullYear(), month: y.getUTCMonth() + 1, day: y.getUTCDate(), hour, minute: Number(g.M ?? 0), second: Number(g.S ?? 0), ms: g.f ? Number(g.f.padEnd(6, "0")) / 1000 : 0 };
  }
  const z = g.z ?? (g.Z && ZONES[g.Z] !== undefined ? (ZONES[g.Z] as string) : undefined);
  const offset = z === undefined ? undefined : /^(Z|UTC|GMT)$/.test(z) ? 0 : (z[0] === "-" ? -1 : 1) * (Number(z.slice(1, 3)) * 60 + Number(z.replace(":", "").slice(3, 5) || 0));
  return { year, month, day, hour, minute: Number(g.M ?? 0), second: Number(g.S ?? 0), ms: g.f ? Number(g.f.padEnd(6, "0")) / 1000 : 0, ...(offset !== undefined ? { offset } : {}) };
}
