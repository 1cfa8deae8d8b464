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

export function lineTimeMs(line: string): number | undefined {
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
