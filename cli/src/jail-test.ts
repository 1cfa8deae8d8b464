import { closeSync, openSync, readSync } from "node:fs";
import { dirname, basename } from "node:path";
import { canonicalizer, compileFinder, scanReader, type JailFilter } from "@fleetwall/agent/filters";
import { readFilter, translatableFilter, type LeftOut } from "@fleetwall/agent/fail2ban/filter-file";
import { readText } from "./fail2ban-files.js";

export interface JailTestResult {
  lines: number;
  matched: number;
  /** `address: false` marks a host name: found, as fail2ban finds it, but never banned. */
  matches: { line: number; host: string; address?: false }[];
}

/** Runs a filter over a log file offline, like fail2ban-regex. */
export async function jailTest(file: string, filter: string | undefined | JailFilter, failRegex: string[]): Promise<JailTestResult> {
  const find = compileFinder(filter, failRegex);
  const canonical = canonicalizer();
  const matches: JailTestResult["matches"] = [];
  // only the lines with the filter's literals (sshd's program tag, a fail2ban filter's words) are cut out
  const fd = openSync(file, "r");
  try {
    // read a megabyte at a time into one buffer: a whole log read at once cost its pages' faults
    const lines = scanReader((buf, at) => readSync(fd, buf, at, buf.length - at, null), find.literals ?? [], (l, n) => {
      const found = find(l);
      if (found === undefined) return;
      const host = canonical(found);
      matches.push(host ? { line: n, host } : { line: n, host: found, address: false });
    });
    return { lines, matched: matches.length, matches };
  } finally {
    closeSync(fd);
  }
}

/**
 * A fail2ban filter file as `jail test` runs it, like `fail2ban-regex LOG FILTER`: read with its
 * includes (`filter.d/x.conf` and `x.local` beside it), `mode` and other [Init] options given.
 * Regexes fleetwall cannot run are left out, as `import` leaves them out, and told to `leftOut`.
 */
export function filterFile(path: string, options: Record<string, string>, leftOut: (l: LeftOut) => void = () => undefined): JailFilter {
  const dir = dirname(dirname(path));
  const name = basename(path).replace(/\.(conf|local)$/, "");
  // sshd stays built in (sessions across lines, OpenSSH's formats), in the mode asked for
  if (name === "sshd") return { filter: ({ normal: "sshd", ddos: "sshd-ddos", extra: "sshd-extra", aggressive: "sshd-aggressive" } as Record<string, string>)[options.mode ?? "normal"] ?? "sshd" };
  const t = translatableFilter(readFilter((p) => readText(p === `${dir}/filter.d/${name}.conf` ? path : p), dir, name, options));
  t.leftOut.forEach(leftOut);
  // with nothing usable left, the filter as written is compiled and its error names what is wrong
  const f = t.usable ? t.filter : readFilter((p) => readText(p === `${dir}/filter.d/${name}.conf` ? path : p), dir, name, options);
  return {
    failRegex: f.failregex,
    ...(f.prefregex ? { prefRegex: f.prefregex } : {}),
    ...(f.ignoreregex.length ? { ignoreRegex: f.ignoreregex } : {}),
    datePattern: f.datepattern ?? "{DEFAULT}",
    maxLines: f.maxlines,
  };
}
