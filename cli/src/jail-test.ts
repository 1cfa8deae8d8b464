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

/**
 * What `jail test` found, kept compact: a match is a line number and a host in two arrays (an
 * object per match, kept to the end, cost more collection than the filter's work on logs where
 * most lines match); `hostNames`: the matches whose host is a host name, not an address.
 */
export interface JailTestRun {
  lines: number;
  lineNos: number[];
  hosts: string[];
  hostNames: Set<number>;
}

/** Runs a filter over a log file offline, like fail2ban-regex. */
export async function jailTest(file: string, filter: string | undefined | JailFilter, failRegex: string[]): Promise<JailTestResult> {
  const r = jailTestRun(file, filter, failRegex);
  const matches = r.lineNos.map((line, i) => (r.hostNames.has(i) ? { line, host: r.hosts[i] as string, address: false as const } : { line, host: r.hosts[i] as string }));
  return { lines: r.lines, matched: matches.length, matches };
}

/** jailTest, its matches kept compact (for the CLI's output, formatJailTest). */
export function jailTestRun(file: string, filter: string | undefined | JailFilter, failRegex: string[]): JailTestRun {
  const find = compileFinder(filter, failRegex);
  const canonical = canonicalizer();
  const run: JailTestRun = { lines: 0, lineNos: [], hosts: [], hostNames: new Set() };
  const fd = openSync(file, "r");
  try {
    // only the lines with the filter's literals (sshd's program tag, a fail2ban filter's words) are
    // cut out; the log is read a megabyte at a time into one buffer (all at once cost its pages' faults)
    run.lines = scanReader((buf, at) => readSync(fd, buf, at, buf.length - at, null), find.literals ?? [], (l, n) => {
      const found = find(l);
      if (found === undefined) return;
      const host = canonical(found);
      if (!host) run.hostNames.add(run.hosts.length);
      run.lineNos.push(n);
      run.hosts.push(host ?? found);
    });
    return run;
  } finally {
    closeSync(fd);
  }
}

/**
 * `jail test`'s output: `--json` is JSON.stringify of jailTest's result, the text one a line per
 * match (`12: 203.0.113.7`) and a summary; built a piece at a time and handed to `write`.
 */
export function formatJailTest(r: JailTestRun, json: boolean, write: (s: string) => void): void {
  const quoted = new Map<string, string>();
  let out = json ? `{"lines":${r.lines},"matched":${r.lineNos.length},"matches":[` : "";
  for (let i = 0; i < r.lineNos.length; i++) {
    const host = r.hosts[i] as string;
    const name = r.hostNames.has(i);
    if (json) {
      let q = quoted.get(host);
      if (q === undefined) {
        q = JSON.stringify(host);
        if (quoted.size < 10_000) quoted.set(host, q);
      }
      out += `${i ? "," : ""}{"line":${r.lineNos[i]},"host":${q}${name ? ',"address":false' : ""}}`;
    } else out += `${r.lineNos[i]}: ${host}${name ? " (a host name: not banned)" : ""}\n`;
    if (out.length >= 1 << 16) {
      write(out);
      out = "";
    }
  }
  write(json ? `${out}]}\n` : `${out}lines: ${r.lines}, matched: ${r.lineNos.length}\n`);
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
