// Benchmark 4: mass ban load into one host's nftables sets, in a network namespace of its own.
//  - floor: one raw `nft -f` adding N addresses to a hash set with timeouts (what the kernel costs)
//  - fleetwall: N sealed decisions, framed as the controller stores them, through the agent's real code (Defender → BanSync → nft),
//    signature checks included, handed over in socket-sized reads as the KV watch delivers them;
//    NATS itself left out (its cost is in the fleet test's numbers)
// Run: npx tsx bench/mass-load.ts   (as root)
import { execFileSync } from "node:child_process";
import { waitFor } from "../test/harness/sh.js";
import { startFail2ban } from "./fail2ban.js";
import { pino } from "pino";
import { banKey, envelopeText, generateSigningKeyPem, loadSigningKey, sealKey, sealPayloads } from "../api/src/index.js";
import { BanSync, Defender, NftBackend, bansTableScript, nftBinary } from "../agent/src/index.js";
import { median, record } from "./lib.js";

const NS = `fwbench${process.pid}`;
const nft = nftBinary({ prefix: ["ip", "netns", "exec", NS] });
const addr = (i: number) => `2001:db8:ffff:${Math.floor(i / 65536).toString(16)}::${(i % 65536).toString(16)}`;
const key = loadSigningKey(generateSigningKeyPem().privatePem);
const enc = new TextEncoder();
async function fresh(): Promise<void> {
  await nft.run(["flush", "ruleset"]);
  await nft.run(["-f", "-"], bansTableScript());
}

/**
 * `runs` of the floor and of fleetwall's path, taken in turn: this machine's speed drifts by a
 * fifth within minutes, and runs side by side see the same drift.
 */
async function measure(n: number, runs: number): Promise<{ floor: number[]; fleetwall: number[] }> {
  const script = `add element inet fleetwall_bans ban6 { ${Array.from({ length: n }, (_, i) => `${addr(i)} timeout 3600s`).join(", ")} }\n`;
  const reads = asReads(sealedEntries(n));
  const out = { floor: [] as number[], fleetwall: [] as number[] };
  for (let r = 0; r < runs; r += 1) {
    await fresh();
    let t = performance.now();
    await nft.run(["-f", "-"], script);
    out.floor.push(performance.now() - t);

    await fresh();
    const log = pino({ level: "silent" });
    const bans = new BanSync(new NftBackend(nft, { sshPorts: [], sshSources: { ip: [], ip6: [] }, nats: [], dhcp: false }), log);
    // past the first read of the bucket: decisions go to the kernel as they come, as on a running agent
    await bans.synced();
    const defender = new Defender(bans, "bench", {}, () => key.publicKeyPem, log);
    t = performance.now();
    await deliver(reads, (k, v) => defender.onDecisionEntry(k, v));
    await bans.idle();
    out.fleetwall.push(performance.now() - t);
    if (bans.activeBans !== n || bans.errors > 0) throw new Error(`expected ${n} bans, have ${bans.activeBans} (${bans.errors} errors)`);
  }
  return out;
}

/** `n` decisions under seals of 5,000, each seal before its decisions, framed as the controller stores them. */
function sealedEntries(n: number): [string, string][] {
  const expires = new Date(Date.now() + 3600_000).toISOString();
  const entries: [string, string][] = [];
  for (let i = 0; i < n; i += 5000) {
    const chunk = Array.from({ length: Math.min(5000, n - i) }, (_, k) => JSON.stringify({ schemaVersion: 1, list: "bulk", type: "Deny", cidr: addr(i + k), reason: "", scenario: "import", origins: [], createdAt: new Date().toISOString(), expiresAt: expires, offences: 1, source: "cli" }));
    const { seal, envelopes } = sealPayloads(key, `s${i}`, chunk);
    entries.push([sealKey(`s${i}`), envelopeText(seal)]);
    envelopes.forEach((e, k) => entries.push([banKey("bulk", addr(i + k)), envelopeText(e)]));
  }
  return entries;
}

/** Entries as a NATS client holds them: socket-sized reads (64 KiB), each entry's value a range of one. */
interface Read {
  bytes: Uint8Array;
  entries: { key: string; start: number; end: number }[];
}

function asReads(entries: [string, string][]): Read[] {
  const reads: Read[] = [];
  let parts: Uint8Array[] = [];
  let read: Read["entries"] = [];
  let offset = 0; // bytes of values in this read
  let wire = 0; // and with the MSG line and headers around each
  for (const [k, v] of entries) {
    const bytes = enc.encode(v);
    read.push({ key: k, start: offset, end: offset + bytes.length });
    parts.push(bytes);
    offset += bytes.length;
    wire += bytes.length + k.length + 100;
    if (wire >= 65536) {
      reads.push({ bytes: Buffer.concat(parts), entries: read });
      [parts, read, offset, wire] = [[], [], 0, 0];
    }
  }
  if (read.length > 0) reads.push({ bytes: Buffer.concat(parts), entries: read });
  return reads;
}

/**
 * Hands the entries over as a KV watch does: read by read, each a task of its own, so the agent's
 * nft batches run while later entries are still being verified; each value a view into its read,
 * as nats.js passes a message's data (`subarray` of the socket buffer), which dies once handled.
 */
async function deliver(reads: Read[], on: (key: string, data: Uint8Array) => void): Promise<void> {
  for (const { bytes, entries } of reads) {
    for (const { key: k, start, end } of entries) on(k, bytes.subarray(start, end));
    await new Promise((r) => setImmediate(r));
  }
}

/**
 * Side by side: fail2ban 1.0.2 banning `n` addresses at once (`fail2ban-client set sshd banip` with
 * all of them) with its nftables action, in a namespace of its own, until the last is in its set.
 * The same n through fleetwall's agent path for comparison.
 */
async function fail2banMass(n: number): Promise<number> {
  const f2b = await startFail2ban({ maxRetry: 5, backend: "polling" });
  try {
    const addrs = Array.from({ length: n }, (_, i) => `2001:db8:f2b::${i.toString(16)}`);
    const t = performance.now();
    f2b.client("set", "sshd", "banip", ...addrs);
    const last = addrs[addrs.length - 1] as string;
    await waitFor("the last address in fail2ban's set", () => f2b.banned(last), 600_000, 50);
    return performance.now() - t;
  } finally {
    await f2b.stop();
  }
}

execFileSync("ip", ["netns", "add", NS]);
try {
  const rows: string[][] = [];
  const verdicts: string[] = [];
  const sizes: [number, number, number][] = [[100_000, 1000, 5], [1_000_000, 8000, 3]]; // decisions, target ms, runs
  for (const [n, target, runs] of process.env.BENCH_SMALL ? sizes.slice(0, 1) : sizes) {
    const { floor: f, fleetwall: w } = await measure(n, runs);
    const fmt = (ms: number[]) => `${median(ms).toFixed(0)} ms (${Math.min(...ms).toFixed(0)}–${Math.max(...ms).toFixed(0)})`;
    rows.push([n.toLocaleString("en"), `${runs}`, fmt(f), fmt(w), `${(median(w) / median(f)).toFixed(2)}×`]);
    // the target is twice the floor; the issue estimated the floor at 0.4 s and 4 s, hence 1 s and 8 s
    const ratio = median(w) / median(f);
    verdicts.push(
      `${n.toLocaleString("en")}: ${median(w).toFixed(0)} ms, ${ratio.toFixed(2)}× the floor (within 2×: ${ratio <= 2 ? "met" : "missed"}; ≤ ${target} ms: ${median(w) <= target ? "met" : `missed by ${(median(w) - target).toFixed(0)} ms`}, with the floor itself at ${median(f).toFixed(0)} ms here)`,
    );
  }
  const f2b = await fail2banMass(1000);
  const fw1k = await measure(1000, 3);
  rows.push(["1,000, side by side", "3", "—", `fleetwall ${median(fw1k.fleetwall).toFixed(0)} ms; fail2ban 1.0.2 (nftables action) ${f2b.toFixed(0)} ms`, `fail2ban ${(f2b / median(fw1k.fleetwall)).toFixed(0)}× slower`]);
  record("mass-load", {
    title: "Mass ban load into one host's sets",
    command: "npx tsx bench/mass-load.ts",
    header: ["decisions", "runs, floor and fleetwall in turn", "floor: one raw nft -f, median (min–max)", "fleetwall agent path (verify + batch + nft), median (min–max)", "ratio of medians"],
    rows,
    verdict: verdicts.join("; "),
  });
} finally {
  execFileSync("ip", ["netns", "del", NS]);
}
