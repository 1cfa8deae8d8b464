// Benchmark 6: the agent's footprint with 100,000 bans loaded: resident memory, and CPU while idle
// (production intervals: 10 s heartbeat and drift check) over 60 s, once the load has settled. One
// host, real NATS and nftables.
// Run: npx tsx bench/footprint.ts   (as root)
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createFleet, type Fleet, type FleetHost } from "../test/harness/fleet.js";
import { waitFor } from "../test/harness/sh.js";
import { record } from "./lib.js";

const POLICY = `apiVersion: fleetwall.io/v1alpha1
kind: FirewallPolicy
metadata: {name: web}
spec:
  hostSelector: {}
  ingress: [{name: ssh, action: Allow, protocol: tcp, ports: [22]}]
`;
const TICK = 100; // clock ticks per second (getconf CLK_TCK on Linux)

/** Resident memory; CPU of the agent itself, and of the processes it started (nft) once they ended. */
function sample(pid: number): { rssMiB: number; cpuSeconds: number; childCpuSeconds: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
  // fields after the command: state is [0], so utime, stime, cutime, cstime are [11]–[14]
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return { rssMiB: rss, cpuSeconds: (Number(stat[11]) + Number(stat[12])) / TICK, childCpuSeconds: (Number(stat[13]) + Number(stat[14])) / TICK };
}

/** The agent's own view of its memory, from its metrics: V8 heap in use and allocated, and external. */
async function heap(fleet: Fleet, host: FleetHost): Promise<string> {
  const { body } = await fleet.httpGet("http://127.0.0.1:9475/metrics", host);
  const mib = (name: string) => (Number(new RegExp(`^${name} (\\S+)`, "m").exec(body)?.[1]) / 1048576).toFixed(0);
  return `V8 heap ${mib("fleetwall_process_nodejs_heap_size_used_bytes")} MiB used of ${mib("fleetwall_process_nodejs_heap_size_total_bytes")} MiB; external ${mib("fleetwall_process_nodejs_external_memory_bytes")} MiB`;
}

const fleet = await createFleet([{ id: "f1", labels: "role=web" }]);
try {
  fleet.writePolicy("p.yaml", POLICY);
  await fleet.startController(["--log-level", "warn"]);
  const host = fleet.hosts[0]!;
  fleet.startAgent(host, ["--heartbeat", "10s", "--drift-interval", "10s", "--log-level", "warn"]);
  await fleet.waitInSync();
  const pid = host.agent!.child.pid as number;
  const before = sample(pid);
  const heapBefore = await heap(fleet, host);
  const file = join(fleet.dir, "bulk.txt");
  writeFileSync(file, Array.from({ length: 100_000 }, (_, i) => `2001:db8:ffff:${Math.floor(i / 65536).toString(16)}::${(i % 65536).toString(16)}`).join("\n"));
  await fleet.cli(["bans", "import", file, "--list", "bulk", "--duration", "2h", "--nats", fleet.nats.url], 300_000);
  await waitFor("100,000 bans on the agent", async () => (await fleet.status()).hosts[0]?.activeBans === 100_000, 300_000, 500);
  await new Promise((r) => setTimeout(r, 5_000));
  const loaded = sample(pid);
  const heapLoaded = await heap(fleet, host);
  // V8 keeps the heap a load grew until its memory reducer runs, once allocation has been low for a
  // while (50–120 s after the load in traces with --trace-gc), and the reducer may collect more than
  // once: the steady state is measured once a major collection has come after the load and none
  // has come for 30 s, so the idle window does not count the reducer's work
  const majors = async () => Number(/^fleetwall_process_nodejs_gc_duration_seconds_count\{kind="major"\} (\S+)/m.exec((await fleet.httpGet("http://127.0.0.1:9475/metrics", host)).body)?.[1] ?? 0);
  let lastMajors = await majors();
  let quietSince = Date.now();
  let collected = false;
  const waitedFrom = Date.now();
  await waitFor("a major collection after the load, then 30 s without one", async () => {
    const now = await majors();
    if (now !== lastMajors) [lastMajors, quietSince, collected] = [now, Date.now(), true];
    return collected && Date.now() - quietSince >= 30_000;
  }, 400_000, 5_000);
  const settledAfter = Math.round((Date.now() - waitedFrom) / 1000) + 5;
  const settled = sample(pid);
  const heapSettled = await heap(fleet, host);
  await new Promise((r) => setTimeout(r, 60_000));
  const idle = sample(pid);
  const heapIdle = await heap(fleet, host);
  const cpuPct = ((idle.cpuSeconds - settled.cpuSeconds) / 60) * 100;
  const childPct = ((idle.childCpuSeconds - settled.childCpuSeconds) / 60) * 100;
  record("footprint", {
    title: "Agent footprint with 100,000 bans",
    command: "npx tsx bench/footprint.ts",
    header: ["", "resident memory", "of which", "CPU"],
    rows: [
      ["after start, no bans", `${before.rssMiB.toFixed(1)} MiB`, heapBefore, ""],
      ["100,000 bans loaded (5 s after)", `${loaded.rssMiB.toFixed(1)} MiB`, heapLoaded, ""],
      [`settled (${settledAfter} s after)`, `${settled.rssMiB.toFixed(1)} MiB`, heapSettled, ""],
      ["idle for 60 s more", `${idle.rssMiB.toFixed(1)} MiB`, heapIdle, `${cpuPct.toFixed(2)} % of a core, and ${childPct.toFixed(2)} % in the nft processes it ran (drift checks)`],
    ],
    verdict: `RSS ${idle.rssMiB.toFixed(1)} MiB (target ≤ 80 MB, that is 76.3 MiB: ${idle.rssMiB * 1.048576 <= 80 ? "met" : "missed"}); idle CPU ${(cpuPct + childPct).toFixed(2)} % with its nft processes (target ≤ 1 %, ${cpuPct + childPct <= 1 ? "met" : "missed"})`,
  });
} finally {
  await fleet.destroy();
}
