import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV, type KvWatchEntry } from "@nats-io/kv";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loopbackNats } from "../../test/harness/loopback-nats.js";
import { waitFor } from "../../test/harness/sh.js";
import { followBucket } from "./bucket-watch.js";

const log = pino({ level: "silent" });

describe("followBucket", () => {
  const nats = loopbackNats("bucket-watch");
  let nc: NatsConnection;
  let n = 0;
  const bucket = async (): Promise<KV> => new Kvm(nc).create(`watch-${++n}`, { history: 1 });
  beforeAll(async () => void (nc = await connect({ servers: nats.server.url })));
  afterAll(async () => nc?.close());

  /** Follows `kv` and records what it hands on, in order, until `stop`. */
  const follow = (kv: KV, ignoreDeletes = false) => {
    const events: string[] = [];
    const ac = new AbortController();
    const onEntry = (e: KvWatchEntry) => void events.push(`${e.operation} ${e.key}`);
    const done = ignoreDeletes
      ? followBucket(kv, { name: "t", log, ignoreDeletes, onEntry }, ac.signal)
      : followBucket(kv, { name: "t", log, onEntry, onSnapshot: () => void events.push("snapshot") }, ac.signal);
    return { events, done, stop: () => (ac.abort(), done) };
  };

  it("hands on what the bucket holds, then says the snapshot is complete, then hands on every change", async () => {
    const kv = await bucket();
    for (const k of ["a", "b", "c"]) await kv.put(k, k);
    await kv.put("a", "again");
    const f = follow(kv);
    await waitFor("snapshot", () => f.events.includes("snapshot"));
    await kv.put("d", "d");
    await kv.delete("b");
    await waitFor("the changes", () => f.events.length === 6);
    await f.stop();
    // one value per key in the snapshot (the last), the snapshot marked once, after it
    expect(f.events).toEqual(["PUT b", "PUT c", "PUT a", "snapshot", "PUT d", "DEL b"]);
  });

  it("says an empty bucket's snapshot is complete at once", async () => {
    const kv = await bucket();
    const f = follow(kv);
    await waitFor("snapshot", () => f.events.includes("snapshot"));
    await kv.put("x", "1");
    await waitFor("the put", () => f.events.length === 2);
    await f.stop();
    expect(f.events).toEqual(["snapshot", "PUT x"]);
  });

  it("hands on no deletes when told to ignore them", async () => {
    const kv = await bucket();
    await kv.put("gone", "1");
    await kv.delete("gone");
    await kv.put("x", "1");
    await kv.delete("x");
    await kv.put("y", "1");
    const f = follow(kv, true);
    await waitFor("the last put", () => f.events.includes("PUT y"));
    await kv.put("z", "1");
    await kv.delete("y");
    await kv.put("w", "1");
    await waitFor("the puts made while following", () => f.events.includes("PUT w"));
    await f.stop();
    // without the deletes, the follower would have seen "DEL gone", "DEL x" and "DEL y"
    expect(f.events).toEqual(["PUT y", "PUT z", "PUT w"]);
  });

  it("returns when aborted, with NATS up and with no bucket to watch", async () => {
    const f = follow(await bucket());
    await waitFor("snapshot", () => f.events.includes("snapshot"));
    await expect(f.stop()).resolves.toBeUndefined();
    // a bucket that was destroyed: opening fails and is retried, until the abort
    const kv = await bucket();
    await kv.destroy();
    const g = follow(kv);
    await new Promise((r) => setImmediate(r));
    await expect(g.stop()).resolves.toBeUndefined();
  });
});
