// An sshd log line as syslog or the journal wrote it: the session it belongs to (host and pid) and
// its message, when the line is sshd's own (its program tag preceded by a syslog header only).

const BSD = /(?<daemon>\[?sshd(?:-session)?(?:\[(?<pid>\d+)\])?\]?):?\s+(?:kernel:\s?\[ *\d+\.\d+\]:?\s+)?(?:\[ID \d+ \S+\]\s+)?(?:(?:error|fatal): (?:PAM: )?)?/y;
const RFC5424 = /^<\d+>1 \S+ (?<hostname>\S+) sshd(?:-session)? (?<pid>\S+) \S+ (?:-|(?:\[(?:[^\]"]|"[^"]*")*\])+) (?:(?:error|fatal): (?:PAM: )?)?/;

/** Splits a syslog line into the session it belongs to and its message; undefined when it is not sshd's. */
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
