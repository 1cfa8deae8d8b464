/**
 * Time stamps for log lines a test appends to a followed log. Jails do not count a failure logged
 * more than findTime before it is read (docs/detection.md, "Log time and findTime"), so lines meant
 * to be failures carry the time they are written: the host's local time, as syslog and nginx write it.
 */
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const two = (n: number) => String(n).padStart(2, "0");
const clock = (d: Date) => `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;

/** `Dec  6 05:09:14`: BSD syslog's stamp (no year), local time. */
export function syslogStamp(d: Date = new Date()): string {
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ${clock(d)}`;
}

/** `2026/12/06 05:09:14`: nginx's error-log stamp, local time. */
export function nginxStamp(d: Date = new Date()): string {
  return `${d.getFullYear()}/${two(d.getMonth() + 1)}/${two(d.getDate())} ${clock(d)}`;
}
