import type { FileReader } from "./config.js";
import { dateTime, type LocalTime } from "./date.js";
import { compileFail2ban, type FilterMatch } from "./engine.js";
import { readFilter } from "./filter-reader.js";

/**
 * fail2ban's annotated test logs (`# failJSON:` lines) replayed through imported filters, as
 * fail2ban's own samples test does (tests/samplestestcase.py): one filter per option set, fed only
 * the lines of its blocks; match, host and time compared where the annotation gives them. Pure:
 * files come through a reader.
 */

export interface LogResult {
  log: string;
  filter: string;
  modes: string[];
  annotated: number;
  agreeing: number;
  /** Why lines disagree: the first few differences or the untranslatable regex. */
  reasons: string[];
}

type Opts = Record<string, unknown>;
/** A filter for one log and option set; returns a match or undefined. */
export type LineFilter = (line: string) => (Omit<FilterMatch, "date"> & { time?: LocalTime; deliberate?: true; timeless?: true }) | undefined;
export type FilterFactory = (filter: string, opts: Opts) => LineFilter;

/** fail2ban's test conditions are Python expressions; these are the forms its logs use. */
export function holds(expr: string, opts: Opts, name: string): boolean {
  const e = expr.replace(/\s+/g, "");
  const n = /^name(==|!=)'([\w-]+)'$/.exec(e);
  if (n) return (name === n[2]) === (n[1] === "==");
  const m = /^opts\.get\('([\w.-]+)'\)(==|!=)'([\w-]+)'$/.exec(e);
  if (!m) throw new Error(`unknown fail2ban test condition ${expr}`);
  return (opts[m[1] as string] === m[3]) === (m[2] === "==");
}

/** TEST_NOW of fail2ban's tests: 2005-08-14 12:00 CEST. */
const NOW = { year: 2005, month: 8, day: 14, hour: 12, minute: 0 };

/** Seconds since the epoch of a local time in the tests' zone (CET-01CEST-02,M3.5.0,M10.5.0). */
function cetEpoch(t: { year: number; month: number; day: number; hour: number; minute: number; second: number; ms: number }): number {
  const utc = Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second) / 1000 + t.ms / 1000;
  const lastSunday = (month: number) => {
    const d = new Date(Date.UTC(t.year, month, 0));
    return Date.UTC(t.year, month - 1, d.getUTCDate() - d.getUTCDay(), 1) / 1000;
  };
  const dst = utc - 3600 >= lastSunday(3) && utc - 7200 < lastSunday(10);
  return utc - (dst ? 7200 : 3600);
}

function epochOf(t: LocalTime): number {
  if (t.epoch !== undefined) return t.epoch;
  if (t.offset !== undefined) return Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second) / 1000 + t.ms / 1000 - t.offset * 60;
  return cetEpoch(t);
}

function jsonEpoch(s: string): number {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?$/.exec(s);
  if (!m) return NaN;
  const [, y, mo, d, h, mi, se, f] = m;
  return cetEpoch({ year: +(y as string), month: +(mo as string), day: +(d as string), hour: +(h as string), minute: +(mi as string), second: +(se as string), ms: f ? Number(f.padEnd(6, "0")) / 1000 : 0 });
}

/** The default factory: the imported filter from `dir`, through the engine. */
export function importedFilters(read: FileReader, dirFor: (filter: string) => string): FilterFactory {
  return (filter, opts) => {
    const init: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts)) if (!k.startsWith("test.")) init[k] = String(v);
    const f = readFilter(read, dirFor(filter), filter, init);
    const match = compileFail2ban({ ...(f.prefregex ? { prefRegex: f.prefregex } : {}), failRegex: f.failregex, ignoreRegex: f.ignoreregex, ...(f.datepattern ? { datePattern: f.datepattern } : {}), maxLines: f.maxlines }, { journal: opts.logtype === "journal" });
    return (line) => {
      const m = match(line);
      if (!m) return m;
      const time = m.date ? dateTime(m.date, NOW) : undefined;
      return { ...m, ...(time ? { time } : {}) };
    };
  };
}

/** Replays one log (and the logs it adds with `addFILE`) through `factory`'s filters. */
export function conformLog(read: FileReader, logsDir: string, log: string, filter: string, factory: FilterFactory): LogResult {
  const result: LogResult = { log, filter, modes: [], annotated: 0, agreeing: 0, reasons: [] };
  const filters = new Map<string, LineFilter | Error>();
  const files = [log];
  const modes = new Set<string>();
  for (let i = 0; i < files.length; i++) {
    let common: Opts = {};
    let blocks: Opts[] | undefined;
    let fail: Opts | undefined;
    for (const text of (read(`${logsDir}/${files[i]}`) ?? "").split(/\r?\n/)) {
      const d = /^#+ ?(failJSON|fileOptions|filterOptions|addFILE):(.+)$/.exec(text);
      if (d) {
        const value = JSON.parse(d[2] as string) as Opts | Opts[] | string;
        if (d[1] === "fileOptions") common = value as Opts;
        else if (d[1] === "addFILE") files.push(value as string);
        else if (d[1] === "filterOptions") blocks = (Array.isArray(value) ? value : [value as Opts]).map((o) => ({ ...common, ...o })).filter((o) => typeof o["test.condition"] !== "string" || holds(o["test.condition"], o, filter));
        else fail = value as Opts;
        continue;
      }
      if (text.startsWith("#") || !text.trim()) continue;
      const want = fail ?? {};
      fail = undefined;
      for (const opts of blocks ?? [{}]) {
        if (typeof want.constraint === "string" && !holds(want.constraint, opts, filter)) continue;
        const key = JSON.stringify(Object.entries(opts).filter(([k]) => !k.startsWith("test.")).sort());
        modes.add(modeName(opts));
        let f = filters.get(key);
        if (!f) {
          try {
            f = factory(filter, opts);
          } catch (e) {
            f = e as Error;
          }
          filters.set(key, f);
        }
        result.annotated += 1;
        const why = judge(f, want, typeof opts["test.prefix-line"] === "string" ? opts["test.prefix-line"] + text : text);
        if (why === undefined) result.agreeing += 1;
        else if (result.reasons.length < 5 && !result.reasons.some((r) => r.endsWith(why))) result.reasons.push(`${modeName(opts)}: ${why}`);
      }
    }
  }
  result.modes = [...modes].sort();
  return result;
}

const modeName = (o: Opts) => Object.entries(o).filter(([k]) => !k.startsWith("test.")).map(([k, v]) => `${k}=${String(v)}`).join(",") || "default";

function judge(f: LineFilter | Error, want: Opts, line: string): string | undefined {
  if (f instanceof Error) return `${f.name}: ${f.message}`;
  const got = f(line);
  if (!want.match) return got ? `matches a line fail2ban does not: ${line.slice(0, 120)}` : undefined;
  if (!got) return `misses: ${line.slice(0, 120)}`;
  // fail2ban's <HOST> leaves an IPv4-mapped prefix out of the address; the built-in sshd keeps it
  const mapped = (h: string) => h.replace(/^::ffff:(?=\d+\.)/i, "");
  if (typeof want.host === "string" && mapped(got.host) !== want.host) return `host ${got.host} instead of ${want.host}: ${line.slice(0, 120)}`;
  if (typeof want.time === "string" && !got.deliberate && !got.timeless) {
    if (!got.time) return `no time found: ${line.slice(0, 120)}`;
    // fail2ban's times are whole seconds unless the annotation gives a fraction
    const whole = !want.time.includes(".");
    const diff = (whole ? Math.floor(epochOf(got.time)) : epochOf(got.time)) - jsonEpoch(want.time);
    if (Math.abs(diff) > 0.0005) return `time differs by ${diff} s: ${line.slice(0, 120)}`;
  }
  return undefined;
}
