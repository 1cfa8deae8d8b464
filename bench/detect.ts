// Benchmark 1: log detection throughput. fleetwall's built-in sshd filter (`fleetwall jail test`)
// against fail2ban-regex with Debian's sshd filter, on the same generated 200,000-line auth log.
// Both are whole processes (start-up included); 5 runs each, median and min–max.
// Run: npx tsx bench/detect.ts   (needs Debian's fail2ban: apt-get install -y fail2ban)
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { authLog } from "./gen-auth-log.js";
import { median, record, timed } from "./lib.js";

const LINES = 200_000;
const RUNS = 5;
const dir = mkdtempSync(join(tmpdir(), "fleetwall-bench-"));
try {
  const log = join(dir, "auth.log");
  writeFileSync(log, authLog(LINES));
  const cli = new URL("../dist/fleetwall.mjs", import.meta.url).pathname; // the bundled CLI, as it ships

  const fw = timed(RUNS, () => JSON.parse(execFileSync("node", [cli, "jail", "test", "--filter", "sshd", log, "--json"], { maxBuffer: 1 << 28 }).toString()).matched as number);
  const f2b = timed(RUNS, () => {
    const out = execFileSync("fail2ban-regex", [log, "/etc/fail2ban/filter.d/sshd.conf"], { maxBuffer: 1 << 28 }).toString();
    return Number(/Lines: \d+ lines, \d+ ignored, (\d+) matched/.exec(out)?.[1]);
  });
  const rate = (ms: number) => Math.round(LINES / (ms / 1000));
  record("detect", {
    title: "Log detection throughput (sshd, 200,000 generated lines)",
    command: "npx tsx bench/detect.ts",
    header: ["tool", "throughput (median)", "wall time, median (min–max), 5 runs", "result"],
    rows: [
      ["fleetwall jail test --filter sshd", `${rate(median(fw.ms))} lines/s`, `${median(fw.ms).toFixed(0)} ms (${Math.min(...fw.ms).toFixed(0)}–${Math.max(...fw.ms).toFixed(0)})`, `${fw.result} matched`],
      ["fail2ban-regex … sshd.conf", `${rate(median(f2b.ms))} lines/s`, `${median(f2b.ms).toFixed(0)} ms (${Math.min(...f2b.ms).toFixed(0)}–${Math.max(...f2b.ms).toFixed(0)})`, `${f2b.result} matched`],
    ],
    verdict: `fleetwall ${(median(f2b.ms) / median(fw.ms)).toFixed(1)}× fail2ban (target ≥ 10×); matches ${fw.result === f2b.result ? "identical" : `differ: ${fw.result} vs ${f2b.result}`}`,
  });
} finally {
  rmSync(dir, { recursive: true, force: true }); // the 20 MB log
}
