import { connect, type NatsConnection } from "@nats-io/transport-node";
import { DiscardPolicy, jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HOSTS_BUCKET, SIGNALS_STREAM, SIGNAL_WILDCARD } from "@fleetwall/api";
import { loopbackNats } from "../../test/harness/loopback-nats.js";
import { LIMITS, setUpStreams } from "./bus-limits.js";
import { StreamSettings, fixFor, settingDrift } from "./stream-settings.js";

const logged = () => {
  const lines: { level: number; msg: string; stream?: string; setting?: string; fix?: string; have?: unknown; want?: unknown }[] = [];
  return { lines, log: pino({ level: "info" }, { write: (l: string) => void lines.push(JSON.parse(l)) }) };
};

describe("settingDrift", () => {
  it("names each setting that differs, objects compared by value", () => {
    const want = { max_bytes: 10, max_consumers: 8, republish: { src: "a", dest: "b" } };
    expect(settingDrift("S", { max_bytes: 10, max_consumers: -1, republish: { src: "a", dest: "b" } }, want)).toEqual([{ stream: "S", setting: "max_consumers", have: -1, want: 8 }]);
    expect(settingDrift("S", { max_bytes: 10, max_consumers: 8 }, want)).toEqual([{ stream: "S", setting: "republish", have: null, want: { src: "a", dest: "b" } }]);
  });

  it("says how to fix a setting the server will not change, and what is lost", () => {
    expect(fixFor({ stream: "KV_fleetwall-bans", setting: "max_consumers" })).toMatch(/nats stream rm KV_fleetwall-bans.*fleet bans are lost/);
    expect(fixFor({ stream: SIGNALS_STREAM, setting: "max_consumers" })).toContain(`stream ${SIGNALS_STREAM}`);
  });
});

describe("stream settings on a real nats-server", () => {
  const nats = loopbackNats("stream-settings");
  let nc: NatsConnection;
  beforeAll(async () => {
    nc = await connect({ servers: nats.server.url });
  });
  afterAll(async () => {
    await nc?.close();
  });

  it("an upgraded installation: what can change is changed, what cannot is named once with its fix and listed for the metric", async () => {
    // nats-server 2.9 (the one fleetwall is tested on) sets max_consumers only when a stream is made
    expect(nc.info?.version, "this test pins nats-server 2.9's behaviour").toMatch(/^2\.9\./);
    const jsm = await jetstreamManager(nc);
    // the signals stream as an older controller made it: no consumer cap, a larger message size, discard new
    await jsm.streams.add({ name: SIGNALS_STREAM, subjects: [SIGNAL_WILDCARD], max_msg_size: 65_536, discard: DiscardPolicy.New });
    const settings = new StreamSettings();
    const { log, lines } = logged();
    await setUpStreams(nc, 1, log, settings);
    const config = (await jsm.streams.info(SIGNALS_STREAM)).config;
    expect(config.max_msg_size).toBe(LIMITS.signals.max_msg_size);
    expect(config.discard).toBe(DiscardPolicy.Old);
    expect(config.max_msgs_per_subject).toBe(LIMITS.signals.max_msgs_per_subject);
    expect(config.max_consumers).toBe(-1);
    expect(settings.unapplied).toEqual({ [`${SIGNALS_STREAM} max_consumers`]: 1 });
    const warned = lines.filter((l) => l.msg.startsWith("stream setting not changed"));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ level: 40, stream: SIGNALS_STREAM, setting: "max_consumers", have: -1, want: LIMITS.signals.max_consumers });
    expect(warned[0]?.fix).toContain(`nats stream rm ${SIGNALS_STREAM}`);
    // a bucket that already had its limits is left alone
    expect(settings.unappliedOf(`KV_${HOSTS_BUCKET}`)).toEqual([]);
    // set up again (a reconnect, a retry): still listed, not logged again
    await setUpStreams(nc, 1, log, settings);
    expect(lines.filter((l) => l.msg.startsWith("stream setting not changed"))).toHaveLength(1);
    expect(settings.unapplied).toEqual({ [`${SIGNALS_STREAM} max_consumers`]: 1 });
    // made again by the operator, as the fix says: nothing left
    await jsm.streams.delete(SIGNALS_STREAM);
    await setUpStreams(nc, 1, log, settings);
    expect((await jsm.streams.info(SIGNALS_STREAM)).config.max_consumers).toBe(LIMITS.signals.max_consumers);
    expect(settings.unapplied).toEqual({});
  });
});
