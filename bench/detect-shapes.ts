// Benchmark: log detection throughput on logs nobody tuned for, against fail2ban-regex, same filter,
// same log: three generated shapes (bench/gen-logs.ts) and the concatenation of fail2ban's own test
// logs, with the built-in sshd filter and with filters imported from Debian's /etc/fail2ban.
// Whole processes each (start-up included), RUNS runs, median; matched line counts must be equal.
// Run: npx tsx bench/detect-shapes.ts   (needs Debian's fail2ban; the bundle: npm run build)
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { servicesLog, shapedLog } from "./gen-logs.js";
import { median, record, timed } from "./lib.js";

const LINES = Number(process.env.LINES ?? 200_000);
const RUNS = Number(process.env.RUNS ?? 3);
const F2B_LOGS = "/usr/lib/python3/dist-packages/fail2ban/tests/files/logs";
const cli = new URL("../dist/fleetwall.mjs", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "fleetwall-bench-shapes-"));

interface Case {
  name: string;
  log: string;
  /** fleetwall jail test arguments after the log. */
  fw: string[];
  /** fail2ban-regex's filter argument. */
  f2b: string;
}

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const lineCount = (p: string) => readFileSync(p, "utf8").split("\n").filter(Boolean).length;

try {
  const concat = readdirSync(F2B_LOGS)
    .filter((f) => statSync(join(F2B_LOGS, f)).isFile())
    .sort()
    .map((f) => readFileSync(join(F2B_LOGS, f), "utf8").replace(/\r/g, "").split("\n").filter((l) => l && !l.startsWith("#")).join("\n"))
    .join("\n");
  const services = servicesLog(LINES);
  const logs = {
    noise: write("noise.log", shapedLog("noise", LINES)),
    failures: write("failures.log", shapedLog("failures", LINES)),
    sessions: write("sessions.log", shapedLog("sessions", LINES)),
    // 100 times over, so that the run measures matching rather than start-up
    f2b: write("fail2ban-tests.log", `${concat}\n`.repeat(100)),
    mail: write("mail.log", services.mail),
    nginx: write("nginx-error.log", services.nginx),
  };
  const sshd = (log: string): Case => ({ name: "", log, fw: ["--filter", "sshd"], f2b: "/etc/fail2ban/filter.d/sshd.conf" });
  const imported = (log: string, filter: string): Case => ({ name: "", log, fw: ["--filter-file", `/etc/fail2ban/filter.d/${filter}.conf`], f2b: `/etc/fail2ban/filter.d/${filter}.conf` });
  const cases: Case[] = [
    { ...sshd(logs.noise), name: "noise (97 % other programs), sshd" },
    { ...sshd(logs.failures), name: "failures (sshd brute force), sshd" },
    { ...sshd(logs.sessions), name: "sessions (60 interleaved, pids wrap), sshd" },
    { ...sshd(logs.f2b), name: "fail2ban's test logs concatenated (×100), sshd" },
    { ...imported(logs.mail, "postfix"), name: "mail log, imported postfix" },
    { ...imported(logs.mail, "dovecot"), name: "mail log, imported dovecot" },
    { ...imported(logs.nginx, "nginx-limit-req"), name: "nginx error log, imported nginx-limit-req" },
    { ...imported(logs.f2b, "postfix"), name: "fail2ban's test logs concatenated (×100), imported postfix" },
  ];
  const load = loadavg()[0]?.toFixed(2);
  const rows: string[][] = [];
  let worst = Infinity;
  let identical = true;
  for (const c of cases) {
    const n = lineCount(c.log);
    const fw = timed(RUNS, () => JSON.parse(execFileSync("node", [cli, "jail", "test", c.log, ...c.fw, "--json"], { maxBuffer: 1 << 28 }).toString()).matched as number);
    const f2b = timed(RUNS, () => Number(/Lines: \d+ lines, \d+ ignored, (\d+) matched/.exec(execFileSync("fail2ban-regex", [c.log, c.f2b], { maxBuffer: 1 << 28 }).toString())?.[1]));
    const ratio = median(f2b.ms) / median(fw.ms);
    worst = Math.min(worst, ratio);
    identical &&= fw.result === f2b.result;
    rows.push([c.name, String(n), `${median(fw.ms).toFixed(0)} ms`, `${median(f2b.ms).toFixed(0)} ms`, `${ratio.toFixed(1)}×`, fw.result === f2b.result ? `${fw.result} both` : `${fw.result} vs ${f2b.result}`]);
  }
  record("detect-shapes", {
    title: "Detection throughput on logs nobody tuned for (fleetwall jail test vs fail2ban-regex)",
    command: `npx tsx bench/detect-shapes.ts   (LINES=${LINES}, RUNS=${RUNS}; load average at start ${load})`,
    header: ["log, filter", "lines", "fleetwall (median)", "fail2ban-regex (median)", "speed-up", "matched lines"],
    rows,
    verdict: `slowest case ${worst.toFixed(1)}× fail2ban-regex (target ≥ 10×); matches ${identical ? "identical in every case" : "differ where shown"}`,
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
