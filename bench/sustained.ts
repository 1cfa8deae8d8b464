// Benchmark 3b: sustained decision rate. The real controller is asked to ban 10,000 new addresses
// every second for 10 s (ban import requests of 1,000 every 100 ms: arbiter checks, sealing,
// signing, KV puts); simulated agents (the real AgentLink watch and Defender/BanSync, nft replaced by
// a recorder, as in fanout.ts) must each receive all 100,000, none lost. 1,000 more hosts are
// registered, so the arbiter checks every decision against 2,000 fleet addresses. Reports the rate
// the controller accepted, the rate at which the last agent had everything, and losses.
// Run: npx tsx bench/sustained.ts   (SUSTAINED_AGENTS=10 by default; SUSTAINED_RUNS=3 by default)
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { connect } from "@nats-io/transport-node";
import { freePort, startNats } from "../test/harness/nats.js";
import { startProc } from "../test/harness/procs.js";
import { sh, waitFor } from "../test/harness/sh.js";
import { Kvm } from "@nats-io/kv";
import { BAN_IMPORT_REQUEST, BanReply, DESIRED_BUCKET, HOSTS_BUCKET } from "../api/src/index.js";
import { cpuSeconds, median, record } from "./lib.js";

const AGENTS = Number(process.env.SUSTAINED_AGENTS ?? 10);
const RATE = 10_000;
const SECONDS = 10;
const BATCH = 1000;
const TOTAL = RATE * SECONDS;
const addr = (i: number) => `2001:db8:5:${Math.floor(i / 65536).toString(16)}::${(i % 65536).toString(16)}`;
const RUNS = Number(process.env.SUSTAINED_RUNS ?? 3);
/** Registered hosts (not simulated agents): the arbiter checks every decision against their addresses. */
const FLEET = 1000;
const cli = new URL("../dist/fleetwall.mjs", import.meta.url).pathname; // the bundled CLI, as it ships

interface Run {
  sentMs: number;
  acceptedMs: number;
  /** NaN when some agent never had everything. */
  lastMs: number;
  published: number;
  lost: number;
  /** CPU the controller spent per decision, µs, and the simulated agents' process per delivery. */
  controllerUs: number;
  agentsUs: number;
}

/** One run on a fresh server, controller and set of simulated agents. */
async function once(): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), "fleetwall-sustained-"));
  const nats = await startNats({ host: "127.0.0.1", logDir: dir });
  const children: ChildProcess[] = [];
  const received = new Map<string, Set<string>>();
  const completeAt = new Map<string, number>();
  try {
    const key = join(dir, "key.pem");
    await sh("mkdir", ["-p", `${dir}/policies`]);
    // BENCH_PROFILE=DIR: CPU profiles of the controller and of the simulated agents' process, written when they stop
    const profile = process.env.BENCH_PROFILE ? ["--cpu-prof", "--cpu-prof-dir", process.env.BENCH_PROFILE] : [];
    const controller = startProc("controller", ["node", ...profile, cli, "controller", "--nats", nats.url, "--source", `dir:${dir}/policies`, "--signing-key", key, "--listen", `127.0.0.1:${await freePort()}`, "--log-level", "warn"], dir);
    await waitFor("signing key", () => sh("test", ["-s", `${key}.pub`]).then(() => true), 20_000);
    const pem = Buffer.from(readFileSync(`${key}.pub`)).toString("base64");
    let ready = 0;
    const child = spawn(process.execPath, [...profile, "--import", "tsx", new URL("./fanout-agents.ts", import.meta.url).pathname, nats.url, "0", String(AGENTS), pem], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(child);
    createInterface({ input: child.stdout! }).on("line", (l) => {
      const m = JSON.parse(l) as { ready?: number; agent?: string; elements?: string[]; at?: number };
      if (m.ready) ready += m.ready;
      else if (m.agent && m.elements) {
        const set = received.get(m.agent) ?? received.set(m.agent, new Set()).get(m.agent)!;
        for (const el of m.elements) set.add(el);
        if (set.size === TOTAL && !completeAt.has(m.agent)) completeAt.set(m.agent, m.at ?? Date.now());
      }
    });
    await waitFor("simulated agents watching", () => ready === AGENTS, 120_000, 100);
    const nc = await connect({ servers: nats.url });
    // a fleet of FLEET registered hosts with two addresses each: every decision is checked against them
    const kvm = new Kvm(nc);
    const hosts = await kvm.open(HOSTS_BUCKET);
    for (let h = 0; h < FLEET; h += 1) {
      const reg = { schemaVersion: 1, hostId: `fleet-${h}`, labels: {}, addresses: [`198.18.${h >> 8}.${h & 255}`, `2001:db8:1::${h.toString(16)}`], agentVersion: "bench", nftVersion: "bench", startedAt: new Date().toISOString() };
      await hosts.put(reg.hostId, new TextEncoder().encode(JSON.stringify(reg)));
    }
    const desired = await kvm.open(DESIRED_BUCKET);
    await waitFor("the controller's states for the registered fleet", async () => (await desired.status()).values >= FLEET, 60_000, 200);
    await new Promise((r) => setTimeout(r, 1000));

    const cpu0 = { controller: cpuSeconds(controller.child.pid), agents: cpuSeconds(child.pid) };
    const t0 = Date.now();
    const pending: Promise<unknown>[] = [];
    let published = 0;
    for (let b = 0; b < TOTAL / BATCH; b += 1) {
      // pace: batch b goes out at t0 + b × 100 ms
      const wait = t0 + (b * 1000 * BATCH) / RATE - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const entries = Array.from({ length: BATCH }, (_, k) => addr(b * BATCH + k));
      pending.push(
        nc.request(BAN_IMPORT_REQUEST, new TextEncoder().encode(JSON.stringify({ list: "sustained", durationSeconds: 3600, reason: "bench", entries })), { timeout: 120_000 }).then((m) => {
          published += BanReply.parse(m.json()).published ?? 0;
        }),
      );
    }
    const sentMs = Date.now() - t0;
    await Promise.all(pending);
    const acceptedMs = Date.now() - t0;
    await waitFor("every agent has every decision", () => completeAt.size === AGENTS, 180_000, 100).catch(() => undefined);
    const lastMs = completeAt.size === AGENTS ? Math.max(...completeAt.values()) - t0 : NaN;
    const lost = Math.max(...[...Array(AGENTS).keys()].map((i) => TOTAL - (received.get(`sim-${i}`)?.size ?? 0)));
    const controllerUs = ((cpuSeconds(controller.child.pid) - cpu0.controller) / TOTAL) * 1e6;
    const agentsUs = ((cpuSeconds(child.pid) - cpu0.agents) / (TOTAL * AGENTS)) * 1e6;
    await nc.close();
    await controller.stop();
    return { sentMs, acceptedMs, lastMs, published, lost, controllerUs, agentsUs };
  } finally {
    for (const c of children) c.kill("SIGTERM");
    await nats.stop();
    rmSync(nats.storeDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
}

const runs: Run[] = [];
for (let r = 0; r < RUNS; r += 1) runs.push(await once());
const rate = (ms: number) => `${Math.round(TOTAL / (ms / 1000)).toLocaleString("en")}/s`;
/** Median (min–max) of one time over the runs, and the rate at the median. */
const row = (label: string, ms: number[]) => {
  if (ms.some(Number.isNaN)) return [label, `never in ${ms.filter(Number.isNaN).length} of ${ms.length} runs`, "—"];
  return [label, `${median(ms).toFixed(0)} ms (${Math.min(...ms)}–${Math.max(...ms)})`, `${rate(median(ms))} (${rate(Math.max(...ms))}–${rate(Math.min(...ms))})`];
};
const lost = Math.max(...runs.map((r) => r.lost));
const published = Math.min(...runs.map((r) => r.published));
const last = runs.map((r) => r.lastMs);
const complete = !last.some(Number.isNaN);
record(`sustained-${AGENTS}`, {
  title: `Sustained: ${TOTAL.toLocaleString("en")} decisions offered at ${RATE.toLocaleString("en")}/s to ${AGENTS} agents, ${FLEET.toLocaleString("en")} hosts registered`,
  command: `SUSTAINED_AGENTS=${AGENTS} npx tsx bench/sustained.ts`,
  header: ["", `time from the first request, median (min–max), ${RUNS} runs`, "rate at the median (range)"],
  rows: [
    row("requests sent (paced)", runs.map((r) => r.sentMs)),
    row(`controller accepted (published at least ${published.toLocaleString("en")} per run)`, runs.map((r) => r.acceptedMs)),
    row(`last of ${AGENTS} agents had all ${TOTAL.toLocaleString("en")}`, last),
    ["decisions lost (per agent, max over the runs)", String(lost), ""],
    ["CPU per decision: controller / simulated agents' process per delivery, median", `${median(runs.map((r) => r.controllerUs)).toFixed(0)} µs / ${median(runs.map((r) => r.agentsUs)).toFixed(0)} µs`, ""],
  ],
  verdict: `${lost === 0 ? "none lost" : `${lost} lost`}; end to end ${complete ? `${rate(median(last))} median` : "incomplete"} (target 10,000/s sustained for 10 s, ${complete && TOTAL / (median(last) / 1000) >= RATE * 0.95 && lost === 0 ? "met" : "missed"})`,
});
