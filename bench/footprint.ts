// Benchmark 6: the agent's footprint with 100,000 bans loaded: resident memory, and CPU while idle
// (production intervals: 10 s heartbeat and drift check) over 60 s. One host, real NATS and nftables.
// Run: npx tsx bench/footprint.ts   (as root)
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createFleet } from "../test/harness/fleet.js";
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

function sample(pid: number): { rssMiB: number; cpuSeconds: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return { rssMiB: rss, cpuSeconds: (Number(stat[11]) + Number(stat[12])) / TICK };
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
  const file = join(fleet.dir, "bulk.txt");
  writeFileSync(file, Array.from({ length: 100_000 }, (_, i) => `2001:db8:ffff:${Math.floor(i / 65536).toString(16)}::${(i % 65536).toString(16)}`).join("\n"));
  await fleet.cli(["bans", "import", file, "--list", "bulk", "--duration", "2h", "--nats", fleet.nats.url], 300_000);
  await waitFor("100,000 bans on the agent", async () => (await fleet.status()).hosts[0]?.activeBans === 100_000, 300_000, 500);
  await new Promise((r) => setTimeout(r, 5_000));
  const loaded = sample(pid);
  await new Promise((r) => setTimeout(r, 60_000));
  const idle = sample(pid);
  const cpuPct = ((idle.cpuSeconds - loaded.cpuSeconds) / 60) * 100;
  record("footprint", {
    title: "Agent footprint with 100,000 bans",
    command: "npx tsx bench/footprint.ts",
    header: ["", "resident memory", "CPU"],
    rows: [
      ["after start, no bans", `${before.rssMiB.toFixed(0)} MiB`, ""],
      ["100,000 bans loaded", `${loaded.rssMiB.toFixed(0)} MiB`, ""],
      ["idle for 60 s after that", `${idle.rssMiB.toFixed(0)} MiB`, `${cpuPct.toFixed(2)} % of a core`],
    ],
    verdict: `RSS ${idle.rssMiB.toFixed(0)} MiB (target ≤ 80 MB, ${idle.rssMiB * 1.048576 <= 80 ? "met" : "missed"}); idle CPU ${cpuPct.toFixed(2)} % (target ≤ 1 %, ${cpuPct <= 1 ? "met" : "missed"})`,
  });
} finally {
  await fleet.destroy();
}
