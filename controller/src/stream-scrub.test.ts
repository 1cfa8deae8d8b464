import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { loopbackNats } from "../../test/harness/loopback-nats.js";
import { foreignFilters, scrubStreams } from "./stream-scrub.js";

describe("foreignFilters", () => {
  it("purges each stream by the other streams' subjects, never its own", () => {
    const subjects = new Map([
      ["KV_fleetwall-desired", ["$KV.fleetwall-desired.>"]],
      ["KV_fleetwall-bans", ["$KV.fleetwall-bans.>"]],
      ["fleetwall-signals", ["fleetwall.signal.*"]],
    ]);
    const f = foreignFilters(subjects);
    expect(f.get("KV_fleetwall-desired")).toEqual(["$KV.fleetwall-bans.>", "fleetwall.signal.*"]);
    expect(f.get("KV_fleetwall-bans")).toEqual(["$KV.fleetwall-desired.>", "fleetwall.signal.*"]);
    for (const [stream, filters] of f) for (const own of subjects.get(stream) ?? []) expect(filters).not.toContain(own);
  });

  it("a subject two streams share is purged from neither", () => {
    const f = foreignFilters(new Map([["a", ["x.>", "y.>"]], ["b", ["y.>"]]]));
    expect(f.get("a")).toEqual([]);
    expect(f.get("b")).toEqual(["x.>"]);
  });
});

describe("scrubStreams on a real nats-server", () => {
  const nats = loopbackNats("stream-scrub");
  let nc: NatsConnection;
  beforeAll(async () => {
    nc = await connect({ servers: nats.server.url });
  });
  afterAll(async () => {
    await nc?.close();
  });

  it("leaves a stream with nothing foreign untouched: its durable consumer keeps what is pending", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "scrub-signals", subjects: ["scrub.signal.>"] });
    await jsm.streams.add({ name: "scrub-kv", subjects: ["$KV.scrub.>"] });
    await jsm.consumers.add("scrub-signals", { durable_name: "arbiter", ack_policy: AckPolicy.Explicit });
    await jetstream(nc).publish("scrub.signal.t1", "queued while no controller ran");
    expect(await scrubStreams(jsm, ["scrub-signals", "scrub-kv"], pino({ level: "silent" }))).toBe(0);
    expect((await jsm.consumers.info("scrub-signals", "arbiter")).num_pending).toBe(1);
  });

  it("purges what a consumer copied into another stream", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "copy-a", subjects: ["copy.a.>"] });
    await jsm.streams.add({ name: "copy-b", subjects: ["copy.b.>"] });
    const js = jetstream(nc);
    for (let i = 0; i < 3; i++) await js.publish(`copy.a.${i}`, "x");
    // a push consumer of copy-a delivering into copy-b (someone listens there, as an agent on its
    // desired key): the server stores each message in copy-b under its copy.a subject
    const listener = nc.subscribe("copy.b.in");
    await jsm.consumers.add("copy-a", { deliver_subject: "copy.b.in", ack_policy: AckPolicy.None });
    await vi.waitFor(async () => expect((await jsm.streams.info("copy-b")).state.messages).toBe(3), { timeout: 10_000 });
    listener.unsubscribe();
    expect(await scrubStreams(jsm, ["copy-a", "copy-b"], pino({ level: "silent" }))).toBe(3);
    expect((await jsm.streams.info("copy-b")).state.messages).toBe(0);
    expect((await jsm.streams.info("copy-a")).state.messages).toBe(3);
  });
});
