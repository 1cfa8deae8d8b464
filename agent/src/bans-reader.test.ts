import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BANS_BUCKET } from "@fleetwall/api";
import { loopbackNats } from "../../test/harness/loopback-nats.js";
import { BansReadError, directBans, readBans, type NextBan, type StoredBan } from "./bans-reader.js";

const text = (d: Uint8Array | null) => (d ? new TextDecoder().decode(d) : "deleted");

// a real nats-server; the bucket as the controller makes it (allow_direct, one value per key)
describe("readBans by direct get", () => {
  const nats = loopbackNats("bans-reader");
  let ctl: NatsConnection;
  let kv: KV;
  let next: NextBan;
  const read = async (after: number, until: number, options: { chunk?: number; window?: number }) => {
    const got: [string, string, number, number | undefined][] = [];
    await readBans(next, after, until, (k, d, r, at) => got.push([k, text(d), r, at]), new AbortController().signal, options);
    return got;
  };

  beforeAll(async () => {
    ctl = await connect({ servers: nats.server.url });
    kv = await new Kvm(ctl).create(BANS_BUCKET, { history: 1 });
    next = directBans((await jetstreamManager(ctl)).direct);
  });
  afterAll(async () => {
    await ctl?.close();
  });

  it.each([
    { chunk: 1, window: 1 },
    { chunk: 7, window: 3 },
    { chunk: 128, window: 16 },
  ])("delivers what the bucket holds, in revision order, skipping superseded revisions ($chunk × $window)", async (options) => {
    const before = Date.now();
    const first = (await kv.status()).streamInfo.state.last_seq;
    for (let i = 0; i < 300; i += 1) await kv.put(`r.k${i % 40}`, `v${i}`);
    await kv.delete("r.k3");
    await kv.purge("r.k4");
    const until = (await kv.status()).streamInfo.state.last_seq;
    const consumers = async () => (await (await jetstreamManager(ctl)).streams.info(`KV_${BANS_BUCKET}`)).state.consumer_count;
    const consumersBefore = await consumers();
    const got = await read(first, until, options);
    // no consumer made (the test's own watch below makes one)
    expect(await consumers()).toBe(consumersBefore);
    // what a watch of the bucket from `first` would show: each key's last value (or its deletion)
    const want = new Map<string, [string, number]>();
    for await (const e of await kv.watch({ resumeFromRevision: first + 1 })) {
      if (e.key.startsWith("r.")) want.set(e.key, [e.operation === "PUT" ? text(e.value) : "deleted", e.revision]);
      if (e.revision >= until) break;
    }
    expect(got.map(([k, v, r]) => [k, v, r])).toEqual([...want].map(([k, [v, r]]) => [k, v, r]).sort((a, b) => (a[2] as number) - (b[2] as number)));
    expect(got.map((g) => g[2])).toEqual([...got.map((g) => g[2])].sort((a, b) => a - b));
    for (const [, , , at] of got) expect(at).toBeGreaterThanOrEqual(before - 1000);
    expect(got.find(([k]) => k === "r.k3")?.[1]).toBe("deleted");
    expect(got.find(([k]) => k === "r.k4")?.[1]).toBe("deleted");
    // nothing after `until`, nothing at or before `after`
    await kv.put("r.later", "x");
    expect((await read(until, until, options)).length).toBe(0);
    expect((await read(until - 1, until, options)).map((g) => g[2])).toEqual([until]);
  });

  it("fails, delivering what came before, when a server holds no entry where the bucket's last revision says one is", async () => {
    const entries: StoredBan[] = [1, 2, 3].map((r) => ({ key: `k${r}`, data: null, revision: r, storedAtMs: 0 }));
    const behind: NextBan = (from) => Promise.resolve(entries.find((e) => e.revision >= from) ?? null);
    const got: number[] = [];
    await expect(readBans(behind, 0, 6, (_k, _d, r) => got.push(r), new AbortController().signal, { chunk: 2, window: 2 })).rejects.toBeInstanceOf(BansReadError);
    // the ranges before the one that failed ([3, 4]: 3, then nothing)
    expect(got).toEqual([1, 2]);
  });

  it("stops every other range at its next request once one fails", async () => {
    let calls = 0;
    const tick = () => new Promise((r) => setImmediate(r));
    const failing: NextBan = async (from) => {
      calls += 1;
      await tick();
      if (from === 1) throw new BansReadError("the server did not answer");
      return { key: `k${from}`, data: null, revision: from, storedAtMs: 0 };
    };
    await expect(readBans(failing, 0, 100_000, () => undefined, new AbortController().signal, { chunk: 1000, window: 4 })).rejects.toBeInstanceOf(BansReadError);
    const after = calls;
    for (let i = 0; i < 20; i += 1) await tick();
    // at most the requests already in flight when it failed
    expect(calls - after).toBeLessThanOrEqual(4);
    expect(calls).toBeLessThan(20);
  });

  it("stops when aborted, with requests in flight", async () => {
    const stuck: NextBan = () => new Promise(() => undefined);
    const ac = new AbortController();
    const reading = readBans(stuck, 0, 1000, () => undefined, ac.signal);
    ac.abort();
    await expect(reading).rejects.toThrow();
  });
});

describe("directBans", () => {
  // the answers a direct get's reply could carry: only an entry of the bans bucket's stream counts
  const answer = (h: Record<string, string>) => {
    const header = { get: (n: string) => h[n] ?? "" };
    return { header, subject: header.get("Nats-Subject"), seq: Number(header.get("Nats-Sequence")), data: new TextEncoder().encode("v"), timestamp: "2026-12-06T08:00:00Z" };
  };
  const nextOf = (h: Record<string, string>) => directBans({ getMessage: () => Promise.resolve(answer(h)) } as unknown as Parameters<typeof directBans>[0]);
  const bans = `KV_${BANS_BUCKET}`;

  it("takes an entry of the bans bucket's stream", async () => {
    expect(await nextOf({ "Nats-Stream": bans, "Nats-Subject": `$KV.${BANS_BUCKET}.l.a`, "Nats-Sequence": "5" })(3)).toMatchObject({ key: "l.a", revision: 5 });
  });

  it.each([
    ["another stream", { "Nats-Stream": "KV_fleetwall-desired", "Nats-Subject": `$KV.${BANS_BUCKET}.l.a`, "Nats-Sequence": "5" }, /came from the stream KV_fleetwall-desired/],
    ["no stream", { "Nats-Subject": `$KV.${BANS_BUCKET}.l.a`, "Nats-Sequence": "5" }, /came from the stream/],
    ["another bucket's subject", { "Nats-Stream": bans, "Nats-Subject": "$KV.fleetwall-desired.h1", "Nats-Sequence": "5" }, /has the subject/],
    ["an empty key", { "Nats-Stream": bans, "Nats-Subject": `$KV.${BANS_BUCKET}.`, "Nats-Sequence": "5" }, /has the subject/],
    ["a revision before the one asked for", { "Nats-Stream": bans, "Nats-Subject": `$KV.${BANS_BUCKET}.l.a`, "Nats-Sequence": "2" }, /asked for revision 3 or later, got 2/],
    ["no revision", { "Nats-Stream": bans, "Nats-Subject": `$KV.${BANS_BUCKET}.l.a` }, /asked for revision 3 or later/],
  ])("refuses an answer with %s", async (_what, h, message) => {
    await expect(nextOf(h)(3)).rejects.toThrow(message);
    await expect(nextOf(h)(3)).rejects.toBeInstanceOf(BansReadError);
  });
});
