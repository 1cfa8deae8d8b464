// An agent's catch-up with a bans bucket of 20,000 decisions (issue 18, row 8): by direct get, 16
// requests in flight over disjoint ranges (what the agent does: it may create no consumer), against
// one request at a time and against the consumer it used before (`kv.watch`). Real nats-server on
// loopback, the bucket as the controller makes it (one value per key, allow_direct), decisions of
// about the size a signed one has.
// Run: npx tsx bench/catch-up.ts   (BANS=20000 CATCHUP_RUNS=5)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { BANS_BUCKET, BANS_REPUBLISH } from "../api/src/index.js";
import { directBans, readBans, CHUNK, WINDOW } from "../agent/src/bans-reader.js";
import { startNats } from "../test/harness/nats.js";
import { median, record } from "./lib.js";

const BANS = Number(process.env.BANS ?? 20_000);
const RUNS = Number(process.env.CATCHUP_RUNS ?? 5);
const logDir = mkdtempSync(join(tmpdir(), "fleetwall-bench-catchup-"));
const nats = await startNats({ host: "127.0.0.1", logDir });
const nc = await connect({ servers: nats.url });
try {
  const kv = await new Kvm(nc).create(BANS_BUCKET, { history: 1, republish: BANS_REPUBLISH, allow_direct: true } as Parameters<Kvm["create"]>[1]);
  const value = "x".repeat(560);
  for (let i = 0; i < BANS; i += 256) {
    await Promise.all(Array.from({ length: Math.min(256, BANS - i) }, (_, j) => kv.put(`jail-sshd.10_${(i + j) >> 16}_${((i + j) >> 8) & 255}_${(i + j) & 255}`, `${value}${i + j}`)));
  }
  const until = (await kv.status()).streamInfo.state.last_seq;
  const next = directBans((await jetstreamManager(nc, { checkAPI: false })).direct);
  const consumers = async () => (await (await jetstreamManager(nc)).streams.info(`KV_${BANS_BUCKET}`)).state.consumer_count;

  const timeIt = async (read: () => Promise<number>) => {
    const ms: number[] = [];
    for (let r = 0; r < RUNS; r += 1) {
      const t0 = performance.now();
      const n = await read();
      ms.push(performance.now() - t0);
      if (n !== BANS) throw new Error(`read ${n} of ${BANS}`);
    }
    return ms;
  };
  const direct = (options: { chunk?: number; window?: number }) => async () => {
    let n = 0;
    await readBans(next, 0, until, () => void (n += 1), new AbortController().signal, options);
    return n;
  };
  const watch = (bucket: KV) => async () => {
    let n = 0;
    for await (const e of await bucket.watch()) {
      n += 1;
      if (e.revision >= until) break;
    }
    return n;
  };
  const before = await consumers();
  const windowed = await timeIt(direct({}));
  const one = await timeIt(direct({ chunk: BANS, window: 1 }));
  const consumersAfter = await consumers();
  const consumer = await timeIt(watch(kv));
  const row = (what: string, ms: number[]) => [what, `${Math.round(median(ms))} ms (${Math.round(Math.min(...ms))}–${Math.round(Math.max(...ms))})`, `${Math.round(BANS / (median(ms) / 1000))}/s`];
  record("catch-up", {
    title: `Agent catch-up with ${BANS.toLocaleString("en")} bans (direct get, no consumer)`,
    command: "npx tsx bench/catch-up.ts",
    header: ["how", `wall time, median (min–max), ${RUNS} runs`, "decisions/s"],
    rows: [
      row(`direct get, ${WINDOW} ranges of ${CHUNK} in flight (the agent)`, windowed),
      row("direct get, one request at a time", one),
      row("a consumer (`kv.watch`, the agent before)", consumer),
    ],
    verdict: `${(median(one) / median(windowed)).toFixed(1)}× faster than one request at a time, ${(median(windowed) / median(consumer)).toFixed(2)}× the consumer's time; consumers on the stream before/after the direct reads: ${before}/${consumersAfter}`,
  });
} finally {
  await nc.close();
  await nats.stop();
  rmSync(nats.storeDir, { recursive: true, force: true });
  rmSync(logDir, { recursive: true, force: true });
}
