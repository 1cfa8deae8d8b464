/**
 * Where sshd's message starts in a syslog line, and which session (host name and pid) it belongs
 * to: the program tag must come right after syslog's own header, so another program's line whose
 * message contains `sshd[N]: ` is never sshd's (docs/detection.md).
 */

import { detachedCopy } from "./line-scan.js";

/** Splits a syslog line into the session it belongs to and its message. */
const BSD = /(?<daemon>\[?sshd(?:-session)?(?:\[(?<pid>\d+)\])?\]?):?\s+(?:kernel:\s?\[ *\d+\.\d+\]:?\s+)?(?:\[ID \d+ \S+\]\s+)?(?:(?:error|fatal): (?:PAM: )?)?/y;
const RFC5424 = /^<\d+>1 \S+ (?<hostname>\S+) sshd(?:-session)? (?<pid>\S+) \S+ (?:-|(?:\[(?:[^\]"]|"[^"]*")*\])+) (?:(?:error|fatal): (?:PAM: )?)?/;

export function splitSession(line: string): { session: string; content: string } | undefined {
  const r = line.startsWith("<") ? RFC5424.exec(line) : null;
  if (r?.groups) return { session: `${r.groups.hostname} ${r.groups.pid}`, content: line.slice(r[0].length) };
  let m: RegExpExecArray | null = null;
  for (let i = line.indexOf("sshd"); i >= 0 && !m; i = line.indexOf("sshd", i + 4)) {
    const at = line[i - 1] === "[" ? i - 1 : i;
    if (at > 0 && line[at - 1] !== " " && line[at - 1] !== "\t") continue;
    BSD.lastIndex = at;
    m = BSD.exec(line);
  }
  if (!m?.groups) return undefined;
  // only sshd's own lines: what precedes the program tag is syslog's header, a time stamp and a
  // host name, never another program's tag or message ("h1 app sshd[2]: Failed …" is not sshd's)
  const header = SYSLOG_HEADER.exec(line.slice(0, m.index));
  if (!header) return undefined;
  return { session: `${header.groups?.host ?? ""} ${m.groups.pid ?? ""}`, content: line.slice(m.index + m[0].length) };
}

const MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
const WEEKDAY = "(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) )?";
/** `Dec  6 01:00:00`, `Dec 06 01:00:00.123456`, with a year or a zone name (journalctl's outputs). */
const BSD_TIME = `${WEEKDAY}${MONTH} +\\d{1,2} (?:\\d{4} )?\\d\\d:\\d\\d:\\d\\d(?:\\.\\d+)?(?: \\d{4})?(?: [A-Z]{2,5})?`;
/** `2026-12-06T01:00:00.123456+00:00`, `Sun 2026-12-06 01:00:00 UTC`. */
const ISO_TIME = `${WEEKDAY}\\d{4}-\\d\\d-\\d\\d[T ]\\d\\d:\\d\\d:\\d\\d(?:[.,]\\d+)?(?:Z|[+-]\\d\\d:?\\d\\d| [A-Z]{2,5})?`;
/**
 * What syslog (RFC 3164, rsyslog's ISO stamps, journalctl's outputs, fleetwall's journal lines)
 * writes before the program tag: a priority, a time stamp (maybe in brackets), a host name; each
 * optional, nothing else.
 */
const SYSLOG_HEADER = new RegExp(`^(?:<\\d{1,3}>)?(?:(?:\\[(?:${BSD_TIME}|${ISO_TIME})\\]|${BSD_TIME}|${ISO_TIME}) +)?(?:(?<host>[\\w.:%-]+) +)?$`);

/**
 * Where `locate` found an sshd line's message, for `sessionOf` once a rule matched: reused from line
 * to line, so that a line no rule matches costs no allocation (the common case, `splitSession`
 * made strings and match objects for every sshd line).
 */
export interface SshdCursor {
  /** Where the message starts. */
  content: number;
  /** Where the program tag starts (syslog's header is what precedes it). */
  tag: number;
  /** The pid's digits: [pidFrom, pidTo), or pidFrom -1 with `pid` set (regex path). */
  pidFrom: number;
  pidTo: number;
  pid: string;
  /** Set when the whole line was split by `splitSession` (lines starting with `<`). */
  session: string | undefined;
  /** Where `bsdHost` found the host: [hostFrom, hostTo). */
  hostFrom: number;
  hostTo: number;
  /**
   * The last host a line named, and its sessions' ids by pid: most logs are one host's, and the
   * same session's lines then name it by the same string (no string made, its hash known).
   */
  lastHost: string | undefined;
  ids: Map<number, string>;
}

export const sshdCursor = (): SshdCursor => ({ content: 0, tag: 0, pidFrom: -1, pidTo: -1, pid: "", session: undefined, hostFrom: 0, hostTo: 0, lastHost: undefined, ids: new Map() });

/** Session ids remembered for the last host (a bound; forgetting one only costs making it again). */
const MAX_IDS = 4096;

const SPACE = 32;
const isDigit = (c: number) => c >= 48 && c <= 57;

/**
 * `sshd[123]: X`, `sshd: X`, `sshd-session[123]: X` at `at`, X a printable character that starts
 * none of BSD's optional prefixes (`kernel:`, `[ID …]`, `error:`, `fatal:`), as BSD reads it: sets
 * the cursor and returns true. false where the line is anything else (BSD then decides).
 */
function tagFast(line: string, at: number, cur: SshdCursor): boolean {
  let i = at + 4;
  if (line.startsWith("-session", i)) i += 8;
  let pidFrom = -1;
  let pidTo = -1;
  if (line.charCodeAt(i) === 91) {
    pidFrom = ++i;
    while (isDigit(line.charCodeAt(i))) i++;
    if (i === pidFrom || line.charCodeAt(i) !== 93) return false;
    pidTo = i++;
  }
  if (line.charCodeAt(i) !== 58 || line.charCodeAt(i + 1) !== SPACE) return false;
  const c = line.charCodeAt(i + 2);
  // k, [, e, f: kernel:, [ID …], error:, fatal: maybe; whitespace or beyond ASCII: \s may go on
  if (!(c > SPACE && c < 127) || c === 107 || c === 91 || c === 101 || c === 102) return false;
  cur.content = i + 2;
  cur.tag = at;
  cur.pidFrom = pidFrom;
  cur.pidTo = pidTo;
  cur.pid = "";
  cur.session = undefined;
  return true;
}

/**
 * Finds where sshd's message starts, as `splitSession` does, without checking syslog's header
 * (`sessionOf` does, once a rule matched: a line no rule matches is no failure whoever wrote it).
 * false for a line with no sshd program tag.
 */
export function locate(line: string, cur: SshdCursor): boolean {
  if (line.charCodeAt(0) === 60) {
    // `<PRI>`: RFC 5424 or a BSD line with a priority, rare; split whole
    const split = splitSession(line);
    if (!split) return false;
    cur.session = split.session;
    cur.content = line.length - split.content.length;
    return true;
  }
  for (let i = line.indexOf("sshd"); i >= 0; i = line.indexOf("sshd", i + 4)) {
    const at = line.charCodeAt(i - 1) === 91 ? i - 1 : i;
    if (at > 0 && line[at - 1] !== " " && line[at - 1] !== "\t") continue;
    if (at === i && tagFast(line, at, cur)) return true;
    BSD.lastIndex = at;
    const m = BSD.exec(line);
    if (m?.groups) {
      cur.content = at + m[0].length;
      cur.tag = at;
      cur.pidFrom = -1;
      cur.pid = m.groups.pid ?? "";
      cur.session = undefined;
      return true;
    }
  }
  return false;
}

/** `Jan`…`Dec` by their character codes (no string made to look one up). */
const MONTH_CODES = new Set(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].map((m) => (m.charCodeAt(0) << 16) | (m.charCodeAt(1) << 8) | m.charCodeAt(2)));
const isHostChar = (c: number) => (c >= 48 && c <= 58) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 46 || c === 37 || c === 45;

/**
 * Whether the header is `Mmm dd hh:mm:ss[.f] host ` (exactly up to `end`), read by character codes,
 * the host's place set in the cursor; false where the header is anything else, or where
 * SYSLOG_HEADER could read the host as a year or a time zone.
 */
function bsdHost(line: string, end: number, cur: SshdCursor): boolean {
  if (line.length < 4 || !MONTH_CODES.has((line.charCodeAt(0) << 16) | (line.charCodeAt(1) << 8) | line.charCodeAt(2)) || line.charCodeAt(3) !== SPACE) return false;
  let i = 4;
  while (line.charCodeAt(i) === SPACE) i++;
  const day = i;
  while (isDigit(line.charCodeAt(i))) i++;
  if (i === day || i > day + 2 || line.charCodeAt(i) !== SPACE) return false;
  if (!isClock(line, i + 1)) return false;
  i += 9;
  if (line.charCodeAt(i) === 46) {
    // `.123456`: one digit at least
    if (!isDigit(line.charCodeAt(++i))) return false;
    while (isDigit(line.charCodeAt(i))) i++;
  }
  if (line.charCodeAt(i) !== SPACE) return false;
  while (line.charCodeAt(i) === SPACE) i++;
  const host = i;
  let digits = 0;
  let capitals = 0;
  for (let c = line.charCodeAt(i); i < end && isHostChar(c); c = line.charCodeAt(++i)) {
    if (isDigit(c)) digits++;
    else if (c >= 65 && c <= 90) capitals++;
  }
  const hostTo = i;
  const length = hostTo - host;
  if (length === 0 || line.charCodeAt(i) !== SPACE) return false;
  while (i < end && line.charCodeAt(i) === SPACE) i++;
  // `Mar  3 06:00:00 2026 sshd`, `… UTC sshd`: the regex reads a year or a zone, not a host
  if (i !== end || (length === 4 && digits === 4) || (length >= 2 && length <= 5 && capitals === length)) return false;
  cur.hostFrom = host;
  cur.hostTo = hostTo;
  return true;
}

/** `hh:mm:ss` at `i`. */
function isClock(line: string, i: number): boolean {
  return isDigit(line.charCodeAt(i)) && isDigit(line.charCodeAt(i + 1)) && line.charCodeAt(i + 2) === 58 && isDigit(line.charCodeAt(i + 3)) && isDigit(line.charCodeAt(i + 4)) && line.charCodeAt(i + 5) === 58 && isDigit(line.charCodeAt(i + 6)) && isDigit(line.charCodeAt(i + 7));
}

/** The session (`host pid`) of a line `locate` found, or undefined when it is not sshd's own line. */
export function sessionOf(line: string, cur: SshdCursor): string | undefined {
  if (cur.session !== undefined) return cur.session;
  if (bsdHost(line, cur.tag, cur)) {
    const length = cur.hostTo - cur.hostFrom;
    if (cur.lastHost === undefined || cur.lastHost.length !== length || !line.startsWith(cur.lastHost, cur.hostFrom)) {
      cur.lastHost = detachedCopy(line.slice(cur.hostFrom, cur.hostTo));
      cur.ids.clear();
    }
    const n = cur.pidFrom >= 0 ? pidNumber(line, cur.pidFrom, cur.pidTo) : -1;
    if (n < 0) return `${cur.lastHost} ${cur.pidFrom >= 0 ? line.slice(cur.pidFrom, cur.pidTo) : cur.pid}`;
    let id = cur.ids.get(n);
    if (id === undefined) {
      if (cur.ids.size >= MAX_IDS) cur.ids.clear();
      id = `${cur.lastHost} ${n}`;
      cur.ids.set(n, id);
    }
    return id;
  }
  const pid = cur.pidFrom >= 0 ? line.slice(cur.pidFrom, cur.pidTo) : cur.pid;
  const header = SYSLOG_HEADER.exec(line.slice(0, cur.tag));
  return header ? `${header.groups?.host ?? ""} ${pid}` : undefined;
}

/** The pid's digits as a number, or -1 where its text is not the number's (a leading zero, too long). */
function pidNumber(line: string, from: number, to: number): number {
  if (to - from > 9 || (line.charCodeAt(from) === 48 && to - from > 1)) return -1;
  let n = 0;
  for (let i = from; i < to; i++) n = n * 10 + line.charCodeAt(i) - 48;
  return n;
}
