import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loopbackNats } from "../../test/harness/loopback-nats.js";
import { AckedPublisher, PublishError } from "./acked-publisher.js";

// a real nats-server with JetStream on loopback
describe("AckedPublisher", () => {
  const nats = loopbackNats("acked-publisher");
  let nc: NatsConnection;

  beforeAll(async () => {
    nc = await connect({ servers: nats.server.url });
  });
  afterAll(async () => {
    await nc?.close();
  });

  it("puts into a KV bucket: each resolves with its stream sequence once stored, and reads back", async () => {
    const kv = await new Kvm(nc).create("acked", { history: 1 });
    const pub = new AckedPublisher(nc);
    try {
      const seqs = await Promise.all(Array.from({ length: 500 }, (_, i) => pub.publish(`$KV.acked.k${i}`, new TextEncoder().encode(`v${i}`))));
      expect(new Set(seqs).size).toBe(500);
      expect(Math.min(...seqs)).toBeGreaterThan(0);
      expect((await kv.get("k123"))?.string()).toBe("v123");
      expect((await kv.get("k499"))?.revision).toBe(Math.max(...seqs));
      expect(pub.pending).toBe(0);
    } finally {
      pub.close();
    }
  });

  it("rejects a put no stream stores once its time is up, and stores one whose stream appears meanwhile", async () => {
    const pub = new AckedPublisher(nc, 1_500);
    try {
      await expect(pub.publish("$KV.no-such-bucket.k", new Uint8Array([1]))).rejects.toThrow(new PublishError("no stream stores this subject"));
      const late = pub.publish("$KV.late.k", new TextEncoder().encode("v"));
      await new Promise((r) => setTimeout(r, 300));
      const kv = await new Kvm(nc).create("late", { history: 1 });
      await expect(late).resolves.toBeGreaterThan(0);
      expect((await kv.get("k"))?.string()).toBe("v");
    } finally {
      pub.close();
    }
  });

  it("rejects a put the stream refuses, with the stream's reason", async () => {
    await (await jetstreamManager(nc)).streams.add({ name: "tiny", subjects: ["tiny.>"], max_msg_size: 16 });
    const pub = new AckedPublisher(nc);
    try {
      await expect(pub.publish("tiny.x", new Uint8Array(64))).rejects.toThrow(/publish refused: .*size/i);
      await expect(pub.publish("tiny.x", new Uint8Array(8))).resolves.toBeGreaterThan(0);
    } finally {
      pub.close();
    }
  });

  it("rejects a put that is never acknowledged once its time is up, and what is in flight on close", async () => {
    const silent = nc.subscribe("silent.>"); // a responder that never answers: no 503, no ack
    const pub = new AckedPublisher(nc, 300);
    try {
      const started = Date.now();
      await expect(pub.publish("silent.a", new Uint8Array([1]))).rejects.toThrow(new PublishError("no ack within 300 ms"));
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      const inFlight = pub.publish("silent.b", new Uint8Array([1]));
      pub.close();
      await expect(inFlight).rejects.toThrow(new PublishError("publisher closed"));
    } finally {
      silent.unsubscribe();
      pub.close();
    }
  });

  it("waits out a stream that is slow but still acknowledging, and not one that stopped", async () => {
    // a stream working through a queue: one ack every 100 ms, in order
    const queue: { respond(data: Uint8Array): boolean }[] = [];
    const slow = nc.subscribe("slow.>", { callback: (_e, m) => void queue.push(m) });
    let seq = 0;
    const acker = setInterval(() => queue.shift()?.respond(new TextEncoder().encode(JSON.stringify({ stream: "slow", seq: ++seq }))), 100);
    const pub = new AckedPublisher(nc, 300);
    try {
      // the last is acknowledged about a second after it was published, three times its timeout
      const seqs = await Promise.all(Array.from({ length: 10 }, (_, i) => pub.publish(`slow.${i}`, new Uint8Array([i]))));
      expect(seqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      // no ack comes any more: the next put is refused after its own timeout, not the longer wait
      clearInterval(acker);
      await new Promise((r) => setTimeout(r, 400));
      const started = Date.now();
      await expect(pub.publish("slow.x", new Uint8Array([1]))).rejects.toThrow(new PublishError("no ack within 300 ms"));
      expect(Date.now() - started).toBeLessThan(300 * 10);
    } finally {
      clearInterval(acker);
      slow.unsubscribe();
      pub.close();
    }
  });
});
