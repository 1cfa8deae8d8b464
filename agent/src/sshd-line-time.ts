/**
 * The time a log line was written, in milliseconds, for session expiry by log time (so `jail test`
 * and a log read after a restart expire sessions as they were lived). Only differences between
 * lines of one log matter: a syslog time without a year is read in a fixed leap year, UTC.
 * undefined when the line starts with no time stamp fleetwall knows. Pure.
 */
const MONTHS: Readonly<Record<string, number>> = { jan: 0, feb: 1, mar: 2, apr: 3, may: 4, jun: 5, jul: 6, aug: 7, sep: 8, oct: 9, nov: 10, dec: 11 };
// "Dec  6 01:00:00" (BSD syslog, journalctl's short format), after an optional <PRI>
const BSD = /^(?:<\d+>)?([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?/;
// "2026-12-06T01:00:00.123+01:00" (rsyslog's high precision, RFC 5424 after "<PRI>1 ")
const ISO = /^(?:<\d+>1 )?(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)/;

/** The month of `Jan`…`Dec` by its three character codes. */
const MONTH_CODES = new Map(Object.entries(MONTHS).map(([m, i]) => [(m.charCodeAt(0) - 32) * 65536 + m.charCodeAt(1) * 256 + m.charCodeAt(2), i]));
const digit = (line: string, i: number) => {
  const d = line.charCodeAt(i) - 48;
  return d >= 0 && d <= 9 ? d : -1;
};
const two = (line: string, i: number) => {
  const a = digit(line, i);
  const b = digit(line, i + 1);
  return a < 0 || b < 0 ? -1 : a * 10 + b;
};

/**
 * `Dec  6 01:00:00[.fff]` read by character codes, as BSD reads it: the stamp nearly every line
 * starts with, without a regex's match object. undefined where the line is anything else (BSD then decides).
 */
function bsdFast(line: string): number | undefined {
  const month = MONTH_CODES.get(line.charCodeAt(0) * 65536 + line.charCodeAt(1) * 256 + line.charCodeAt(2));
  if (month === undefined || line.charCodeAt(3) !== 32) return undefined;
  let i = 4;
  while (line.charCodeAt(i) === 32) i++;
  let day = digit(line, i++);
  if (day < 0) return undefined;
  if (digit(line, i) >= 0) day = day * 10 + digit(line, i++);
  if (line.charCodeAt(i) !== 32 || line.charCodeAt(i + 3) !== 58 || line.charCodeAt(i + 6) !== 58) return undefined;
  const [h, m, sec] = [two(line, i + 1), two(line, i + 4), two(line, i + 7)];
  if (h < 0 || m < 0 || sec < 0) return undefined;
  // up to six digits of fraction, the first three are the milliseconds
  let ms = 0;
  i += 9;
  if (line.charCodeAt(i) === 46) {
    let more = true;
    for (let k = 1; k <= 3; k++) {
      more &&= digit(line, i + k) >= 0;
      ms = ms * 10 + (more ? digit(line, i + k) : 0);
    }
  }
  return Date.UTC(2000, month, day, h, m, sec, ms);
}

export function lineTimeMs(line: string): number | undefined {
  const fast = bsdFast(line);
  if (fast !== undefined) return fast;
  const b = BSD.exec(line);
  if (b) {
    const month = MONTHS[(b[1] as string).toLowerCase()];
    if (month === undefined) return undefined;
    const ms = Number(((b[6] ?? "") + "000").slice(0, 3));
    return Date.UTC(2000, month, Number(b[2]), Number(b[3]), Number(b[4]), Number(b[5]), ms);
  }
  const i = ISO.exec(line);
  if (!i) return undefined;
  const t = Date.parse((i[1] as string).replace(" ", "T"));
  return Number.isNaN(t) ? undefined : t;
}
