// Benchmark 3: fan-out. 1,000 simulated agents (250 per process, each its own NATS connection and
// bans watch, the real decision-handling code, the nft step replaced by a recorder) receive single
// ban decisions published by the real controller; time from the publish request to the last agent.
// Run: npx tsx bench/fanout.ts
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { startNats } from "../test/harness/nats.js";
import { startProc } from "../test/harness/procs.js";
import { freePort } from "../test/harness/nats.js";
import { sh, waitFor } from "../test/harness/sh.js";
import { connect } from "@nats-io/transport-node";
import { BAN_ADD_REQUEST } from "../api/src/index.js";
import { cpuSeconds, median, percentile, record } from "./lib.js";

const AGENTS = Number(process.env.FANOUT_AGENTS ?? 1000);
const PER_PROCESS = 250;
const DECISIONS = 20;
const WARMUP = 5;
const cli = new URL("../dist/fleetwall.mjs", import.meta.url).pathname; // the bundled CLI, as it ships
const dir = mkdtempSync(join(tmpdir(), "fleetwall-fanout-"));
const nats = await startNats({ host: "127.0.0.1", logDir: dir });
const children: ChildProcess[] = [];
const arrivals = new Map<string, number[]>();
try {
  const key = join(dir, "key.pem");
  const controller = startProc("controller", ["node", cli, "controller", "--nats", nats.url, "--source", `dir:${dir}/policies`, "--signing-key", key, "--listen", `127.0.0.1:${await freePort()}`, "--log-level", "warn"], dir);
  await sh("mkdir", ["-p", `${dir}/policies`]);
  await waitFor("signing key", () => sh("test", ["-s", `${key}.pub`]).then(() => true), 20_000);
  const pem = Buffer.from(readFileSync(`${key}.pub`)).toString("base64");
  let ready = 0;
  for (let first = 0; first < AGENTS; first += PER_PROCESS) {
    // BENCH_PROFILE=DIR: a CPU profile of the first process of simulated agents
    const profile = first === 0 && process.env.BENCH_PROFILE ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_PROFILE] : [];
    const child = spawn(process.execPath, [...profile, "--import", "tsx", new URL("./fanout-agents.ts", import.meta.url).pathname, nats.url, String(first), String(Math.min(PER_PROCESS, AGENTS - first)), pem], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(child);
    createInterface({ input: child.stdout! }).on("line", (l) => {
      const m = JSON.parse(l) as { ready?: number; elements?: string[]; at?: number };
      if (m.ready) ready += m.ready;
      else if (m.elements && m.at) for (const el of m.elements) (arrivals.get(el) ?? arrivals.set(el, []).get(el)!).push(m.at);
    });
  }
  await waitFor("all simulated agents watching", () => ready === AGENTS, 300_000, 200);
  await new Promise((r) => setTimeout(r, 2000));
  const latencies: number[] = [];
  const replied: number[] = [];
  const firsts: number[] = [];
  const nc = await connect({ servers: nats.url });
  // CPU seconds of each part while the decisions go out: where the time of the fan-out goes
  const parts = () => ({ server: cpuSeconds(nats.proc.child.pid), controller: cpuSeconds(controller.child.pid), agents: children.reduce((sum, c) => sum + cpuSeconds(c.pid), 0) });
  let cpuBefore = parts();
  for (let i = 0; i < WARMUP + DECISIONS; i += 1) {
    // the first decisions run cold code in every simulated agent (in a run they took 570–590 ms, the
    // last ones 370 ms); a running agent's code is warm, so WARMUP decisions go out untimed first
    if (i === WARMUP) cpuBefore = parts();
    const el = `203.0.113.${200 + i}`;
    const t0 = Date.now();
    await nc.request(BAN_ADD_REQUEST, new TextEncoder().encode(JSON.stringify({ cidr: el, durationSeconds: 3600, reason: "bench" })), { timeout: 10_000 });
    const reply = Date.now() - t0;
    await waitFor(`${el} at every agent`, () => (arrivals.get(el)?.length ?? 0) >= AGENTS, 60_000, 5);
    if (i >= WARMUP) {
      replied.push(reply);
      latencies.push(Math.max(...(arrivals.get(el) as number[])) - t0);
      firsts.push(Math.min(...(arrivals.get(el) as number[])) - t0);
    }
    // let the fleet settle, as between real bans: the next decision is timed on its own
    await new Promise((r) => setTimeout(r, 500));
  }
  const cpuAfter = parts();
  const cpu = (k: keyof typeof cpuBefore) => `${(((cpuAfter[k] - cpuBefore[k]) / DECISIONS) * 1000).toFixed(0)} ms`;
  await nc.close();
  await controller.stop();
  const stats = (xs: number[]) => [`${median(xs).toFixed(0)} ms`, `${percentile(xs, 99).toFixed(0)} ms`, `${Math.max(...xs).toFixed(0)} ms`];
  record("fanout", {
    title: `Fan-out: one decision to ${AGENTS.toLocaleString("en")} agents`,
    command: "npx tsx bench/fanout.ts",
    header: ["", "median", "p99", "max"],
    rows: [
      ["publish request → the controller's reply (decision signed and in the bucket)", ...stats(replied)],
      ["publish request → first agent", ...stats(firsts)],
      [`publish request → last of ${AGENTS} agents (${DECISIONS} decisions after ${WARMUP} untimed)`, ...stats(latencies)],
      ["CPU per decision: nats-server / the 1,000 simulated agents / controller", `${cpu("server")} / ${cpu("agents")} / ${cpu("controller")}`, "", ""],
    ],
    verdict: `p99 ${percentile(latencies, 99).toFixed(0)} ms (target ≤ 500 ms, ${percentile(latencies, 99) <= 500 ? "met" : "missed"}). Timed from the request to the controller (arbiter checks, signing, KV put) to the last agent's recorded nft step.`,
  });
} finally {
  for (const c of children) c.kill("SIGTERM");
  await nats.stop();
  rmSync(nats.storeDir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}
