// Benchmark 2: ban latency, from an attack line written to a host's auth log to the address in the
// nftables ban set — on that host (local) and on the last host of the fleet (fleet-wide) — for test
// fleets of 3 and 20 hosts in network namespaces, real NATS and nftables. Times come from the
// agents' own log line written right after nft accepted the element (same clock as the writer).
// Side by side: fail2ban 1.0.2 (Debian) on the same line, polling its nft set every 2 ms.
// Run: npx tsx bench/latency.ts   (as root; needs Debian's fail2ban)
import { appendFileSync, closeSync, mkdirSync, openSync, readSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { JAIL_LOG_DIR, createFleet, type Fleet } from "../test/harness/fleet.js";
import { syslogStamp } from "../test/harness/log-stamp.js";
import { waitFor } from "../test/harness/sh.js";
import { startFail2ban } from "./fail2ban.js";
import { median, percentile, record } from "./lib.js";

const ATTACKS = 100;
const line = (addr: string) => `${syslogStamp()} h sshd[4242]: Failed password for invalid user admin from ${addr} port 40000 ssh2\n`;
const POLICY = `apiVersion: fleetwall.io/v1alpha1
kind: FirewallPolicy
metadata: {name: jail}
spec:
  hostSelector: {}
  defaultInput: Accept
  jails:
    - {name: sshd, filter: sshd, source: {file: ${JAIL_LOG_DIR}/auth.log}, maxRetry: 1, banTime: 1h, share: Fleet}
`;

/**
 * When each address was applied on each host, from the agents' logs, read incrementally: re-reading
 * 20 whole logs every few milliseconds would take the CPU the agents are being timed on.
 */
class AppliedLog {
  #offsets = new Map<number, number>();
  #partial = new Map<number, string>();
  #applied = new Map<string, number>();
  #detected = new Map<string, number>();

  constructor(private readonly fleet: Fleet) {}

  #scan(hostIndex: number): void {
    const file = this.fleet.hosts[hostIndex]?.agent?.logFile;
    if (!file) return;
    const from = this.#offsets.get(hostIndex) ?? 0;
    const size = statSync(file).size;
    if (size <= from) return;
    const fd = openSync(file, "r");
    const buf = Buffer.alloc(size - from);
    readSync(fd, buf, 0, buf.length, from);
    closeSync(fd);
    this.#offsets.set(hostIndex, size);
    const lines = ((this.#partial.get(hostIndex) ?? "") + buf.toString("utf8")).split("\n");
    this.#partial.set(hostIndex, lines.pop() ?? "");
    for (const l of lines) {
      const applied = l.includes('"ban elements applied"');
      if (!applied && !l.includes('"banned locally"')) continue;
      const entry = JSON.parse(l) as { time: number; elements?: string[]; address?: string };
      // the first time counts: on the attacked host the fleet's decision for the address comes after the local ban
      if (applied) for (const e of entry.elements ?? []) if (e.startsWith("upsert ")) this.#applied.set(`${hostIndex} ${e.slice(7)}`, this.#applied.get(`${hostIndex} ${e.slice(7)}`) ?? entry.time);
      if (entry.address) this.#detected.set(`${hostIndex} ${entry.address}`, entry.time);
    }
  }

  appliedAt(hostIndex: number, addr: string): number | undefined {
    this.#scan(hostIndex);
    return this.#applied.get(`${hostIndex} ${addr}`);
  }

  detectedAt(hostIndex: number, addr: string): number | undefined {
    return this.#detected.get(`${hostIndex} ${addr}`);
  }
}

async function fleetwall(n: number): Promise<{ local: number[]; fleet: number[] }> {
  const fleet = await createFleet(Array.from({ length: n }, (_, i) => ({ id: `h${i + 1}`, labels: "role=web" })));
  try {
    for (const h of fleet.hosts) {
      mkdirSync(fleet.hostLogDir(h), { recursive: true });
      writeFileSync(join(fleet.hostLogDir(h), "auth.log"), "");
    }
    fleet.writePolicy("jail.yaml", POLICY);
    await fleet.startController(["--log-level", "warn"]);
    // production intervals: the test fleet's 1 s heartbeat and drift check would load 20 agents on 2 cores
    for (const h of fleet.hosts) fleet.startAgent(h, ["--heartbeat", "10s", "--drift-interval", "10s", "--log-level", "debug"]);
    await fleet.waitInSync(120_000);
    await waitFor("jails", () => fleet.hosts.every((h) => h.agent?.log().includes('"jail started"')), 30_000);
    const local: number[] = [];
    const all: number[] = [];
    const applied = new AppliedLog(fleet);
    for (let i = 0; i < ATTACKS; i += 1) {
      const addr = `203.0.113.${10 + i}`;
      const t0 = Date.now();
      appendFileSync(join(fleet.hostLogDir(fleet.hosts[0]!), "auth.log"), line(addr));
      const times = await waitFor(`${addr} on every host`, () => {
        const ts = fleet.hosts.map((_, k) => applied.appliedAt(k, addr));
        return ts.every((t) => t !== undefined) ? (ts as number[]) : undefined;
      }, 20_000, 5);
      local.push(times[0]! - t0);
      const detected = applied.detectedAt(0, addr);
      if (detected && times[0]! - t0 > 20) console.log(`slow local ban ${addr}: detected after ${detected - t0} ms, in the set after ${times[0]! - t0} ms`);
      all.push(Math.max(...times) - t0);
      await new Promise((r) => setTimeout(r, 100));
    }
    return { local, fleet: all };
  } finally {
    await fleet.destroy();
  }
}

async function fail2ban(): Promise<number[]> {
  const f2b = await startFail2ban({ maxRetry: 1, backend: "pyinotify" });
  try {
    const out: number[] = [];
    for (let i = 0; i < 15; i += 1) {
      const addr = `203.0.113.${100 + i}`;
      const t0 = performance.now();
      appendFileSync(f2b.authLog, line(addr).replace("Nov 27 10:00:00", new Date().toString().slice(4, 24).replace(/ \d{4}/, "")));
      await waitFor(`${addr} in fail2ban's set`, () => f2b.banned(addr), 20_000, 2);
      out.push(performance.now() - t0);
    }
    return out;
  } finally {
    await f2b.stop();
  }
}

const rows: string[][] = [];
const fmt = (xs: number[]) => `${median(xs).toFixed(0)} / ${percentile(xs, 99).toFixed(0)} / ${Math.max(...xs).toFixed(0)} ms`;
const results: Record<number, { local: number[]; fleet: number[] }> = {};
for (const n of (process.env.LATENCY_HOSTS ?? "3,20").split(",").map(Number)) {
  results[n] = await fleetwall(n);
  console.log(`${n} hosts, every attack in order (ms): local ${results[n].local.join(" ")}; fleet ${results[n].fleet.join(" ")}`);
  rows.push([`fleetwall, ${n} hosts`, fmt(results[n].local), fmt(results[n].fleet)]);
}
const f2b = await fail2ban();
rows.push(["fail2ban 1.0.2 (one host, nftables-allports)", fmt(f2b), "— (no sharing)"]);
const p99 = (xs: number[]) => percentile(xs, 99);
record("latency", {
  title: "Ban latency: attack line → address in the nftables set",
  command: "npx tsx bench/latency.ts",
  header: ["", "local host: median / p99 / max", "last host of the fleet: median / p99 / max"],
  rows,
  verdict: `p99 local ${p99(results[20]!.local).toFixed(0)} ms (target ≤ 20 ms${p99(results[20]!.local) <= 20 ? ", met" : ", missed"}), fleet-wide at 20 hosts ${p99(results[20]!.fleet).toFixed(0)} ms (target ≤ 200 ms${p99(results[20]!.fleet) <= 200 ? ", met" : ", missed"}); fail2ban's local median ${median(f2b).toFixed(0)} ms`,
});
