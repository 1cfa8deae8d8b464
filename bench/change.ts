// Benchmark 5 (second half): one policy change applied fleet-wide. The real controller on a directory
// of 200 policies; 1,000 simulated agents (250 per process: real NATS connection, registration,
// desired-state watch and signature check; no nft) — see change-agents.ts. Time from the policy file
// written to the last affected agent holding the new revision, verified.
// Run: npx tsx bench/change.ts
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { stringify } from "yaml";
import { connect } from "@nats-io/transport-node";
import { freePort, startNats } from "../test/harness/nats.js";
import { startProc } from "../test/harness/procs.js";
import { sh, waitFor } from "../test/harness/sh.js";
import { fleetPolicy } from "./fleet-policies.js";
import { cpuSeconds, median, percentile, record } from "./lib.js";

const HOSTS = Number(process.env.CHANGE_HOSTS ?? 1000);
const PER_PROCESS = 250;
const RUNS = 5;
const policy = fleetPolicy;
const cli = new URL("../dist/fleetwall.mjs", import.meta.url).pathname; // the bundled CLI, as it ships
const dir = mkdtempSync(join(tmpdir(), "fleetwall-change-"));
const policies = join(dir, "policies");
mkdirSync(policies);
for (let i = 0; i < 200; i += 1) writeFileSync(join(policies, `p${i}.yaml`), stringify(policy(i, 8000 + i)));
const nats = await startNats({ host: "127.0.0.1", logDir: dir });
const children: ChildProcess[] = [];
const revisions = new Map<string, { revision: number; at: number }>();
try {
  const key = join(dir, "key.pem");
  // BENCH_PROFILE=DIR: CPU profiles of the controller and of the first process of simulated agents, written when they stop
  const profile = process.env.BENCH_PROFILE ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_PROFILE] : [];
  const controller = startProc("controller", ["node", ...profile, cli, "controller", "--nats", nats.url, "--source", `dir:${policies}`, "--signing-key", key, "--listen", `127.0.0.1:${await freePort()}`, "--log-level", "warn"], dir);
  await waitFor("signing key", () => sh("test", ["-s", `${key}.pub`]).then(() => true), 20_000);
  const pem = Buffer.from(readFileSync(`${key}.pub`)).toString("base64");
  let ready = 0;
  for (let first = 0; first < HOSTS; first += PER_PROCESS) {
    const child = spawn(process.execPath, [...(first === 0 ? profile : []), "--import", "tsx", new URL("./change-agents.ts", import.meta.url).pathname, nats.url, String(first), String(Math.min(PER_PROCESS, HOSTS - first)), pem], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(child);
    createInterface({ input: child.stdout! }).on("line", (l) => {
      const m = JSON.parse(l) as { ready?: number; agent?: string; revision?: number; at?: number };
      if (m.ready) ready += m.ready;
      else if (m.agent) revisions.set(m.agent, { revision: m.revision as number, at: m.at as number });
    });
  }
  await waitFor("all simulated agents registered", () => ready === HOSTS, 300_000, 200);
  process.stderr.write(`registered ${ready}\n`);
  await waitFor("every agent holding its first state", () => revisions.size === HOSTS, 300_000, 200);
  process.stderr.write(`all ${HOSTS} agents hold a first state\n`);
  await new Promise((r) => setTimeout(r, 2000));

  // when the controller's puts reach the server: the last desired-state message of each change
  const nc = await connect({ servers: nats.url });
  let lastPut = 0;
  nc.subscribe("$KV.fleetwall-desired.>", { callback: () => void (lastPut = Date.now()) });
  const published: number[] = [];
  /** Edits policy `i` and returns ms until every host it selects holds a newer revision. */
  const change = async (i: number, port: number, selected: string[]) => {
    const before = new Map(selected.map((h) => [h, revisions.get(h)?.revision ?? 0]));
    const t0 = Date.now();
    writeFileSync(join(policies, `p${i}.yaml`), stringify(policy(i, port)));
    await waitFor(`p${i} applied`, () => selected.every((h) => (revisions.get(h)?.revision ?? 0) > (before.get(h) ?? 0)), 120_000, 10);
    published.push(lastPut - t0);
    return Math.max(...selected.map((h) => (revisions.get(h) as { at: number }).at)) - t0;
  };
  const all = [...Array(HOSTS).keys()].map((n) => `h${n}`);
  const team1 = all.filter((_, n) => n % 20 === 1);
  // CPU seconds of each part during the fleet-wide changes: where the time of a change goes
  const parts = () => ({ server: cpuSeconds(nats.proc.child.pid), controller: cpuSeconds(controller.child.pid), agents: children.reduce((sum, c) => sum + cpuSeconds(c.pid), 0) });
  const cpu = { server: 0, controller: 0, agents: 0 };
  const fleetWide: number[] = [];
  const slice: number[] = [];
  for (let r = 0; r < RUNS; r += 1) {
    const before = parts();
    fleetWide.push(await change(0, 9000 + r * 20, all));
    const after = parts();
    for (const k of ["server", "controller", "agents"] as const) cpu[k] += (after[k] - before[k]) / RUNS;
    await new Promise((res) => setTimeout(res, 500));
    slice.push(await change(1, 9500 + r * 20, team1));
    await new Promise((res) => setTimeout(res, 500));
  }
  await nc.close();
  await controller.stop();
  const fleetPublished = published.filter((_, k) => k % 2 === 0);
  const fmt = (xs: number[]) => `${median(xs).toFixed(0)} ms (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`;
  record("change", {
    title: `Controller: one policy change applied across ${HOSTS.toLocaleString("en")} simulated agents (200 policies)`,
    command: "npx tsx bench/change.ts",
    header: ["change", "hosts affected", `file written → last affected agent verified, median (min–max), ${RUNS} runs`, "p99", "file written → controller's last put"],
    rows: [
      ["a policy selecting every host", HOSTS.toLocaleString("en"), fmt(fleetWide), `${percentile(fleetWide, 99).toFixed(0)} ms`, fmt(fleetPublished)],
      ["CPU per fleet-wide change: nats-server / the simulated agents / controller", "", `${(cpu.server * 1000).toFixed(0)} ms / ${(cpu.agents * 1000).toFixed(0)} ms / ${(cpu.controller * 1000).toFixed(0)} ms`, "", ""],
      ["a policy selecting one team", team1.length.toLocaleString("en"), fmt(slice), `${percentile(slice, 99).toFixed(0)} ms`, fmt(published.filter((_, k) => k % 2 === 1))],
    ],
    verdict: `fleet-wide change at ${HOSTS.toLocaleString("en")} hosts: ${median(fleetWide).toFixed(0)} ms median, ${Math.max(...fleetWide).toFixed(0)} ms worst (target ≤ 2,000 ms, ${Math.max(...fleetWide) <= 2000 ? "met" : "missed"})`,
  });
} finally {
  for (const c of children) c.kill("SIGTERM");
  await nats.stop();
  rmSync(nats.storeDir, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}
