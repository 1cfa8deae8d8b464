import { connect, headers } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { HOSTS_BUCKET, SIGNALS_STREAM } from "@fleetwall/api";
import { loopbackNats } from "../../test/harness/loopback-nats.js";
import { ControllerBus } from "./bus.js";

const quiet = pino({ level: "silent" });
const HOSTS = `KV_${HOSTS_BUCKET}`;

/** An agent's put of its own key with headers it chose (what a service import passes on). */
async function putWith(nc: Awaited<ReturnType<typeof connect>>, key: string, set: Record<string, string>): Promise<string> {
  const h = headers();
  for (const [k, v] of Object.entries(set)) h.set(k, v);
  const r = await nc.request(`$KV.${HOSTS_BUCKET}.${key}`, JSON.stringify({ hostId: key }), { headers: h, timeout: 5000 });
  return r.string();
}

describe("hosts bucket and signals stream refuse rollups (one agent's put must not remove other keys)", () => {
  const nats = loopbackNats("bus-rollup");

  it("an existing hosts bucket made with rollups allowed is changed to refuse them at controller start (nats-server 2.9 takes the update)", async () => {
    const nc = await connect({ servers: nats.server.url });
    try {
      expect(nc.info?.version, "this test pins nats-server 2.9's behaviour").toMatch(/^2\.9\./);
      const jsm = await jetstreamManager(nc);
      // as an older controller made it: the KV API's own settings, rollups allowed
      const kv = await new Kvm(nc).create(HOSTS_BUCKET, { history: 1 });
      expect((await jsm.streams.info(HOSTS)).config.allow_rollup_hdrs).toBe(true);
      await kv.put("h2", "two");
      await kv.put("h3", "three");
      const bus = await ControllerBus.connect({ connection: { servers: nats.server.url }, replicas: 1, log: quiet, onInvalid: () => undefined });
      await bus.close();
      expect((await jsm.streams.info(HOSTS)).config.allow_rollup_hdrs).toBe(false);
      expect((await jsm.streams.info(SIGNALS_STREAM)).config.allow_rollup_hdrs).toBe(false);

      for (const rollup of ["all", "sub"]) {
        const reply = await putWith(nc, "h1", { "Nats-Rollup": rollup });
        expect(reply, `Nats-Rollup: ${rollup}`).toMatch(/rollup.*not (permitted|allowed)|error/i);
      }
      // other headers the server acts on bind only the put they come with
      expect(await putWith(nc, "h1", { "Nats-Expected-Last-Subject-Sequence": "0" })).toMatch(/"seq"/);
      expect(await putWith(nc, "h1", { "Nats-Msg-Id": "x", "KV-Operation": "PURGE" })).toMatch(/"seq"/);
      expect((await kv.get("h2"))?.string()).toBe("two");
      expect((await kv.get("h3"))?.string()).toBe("three");
      expect((await jsm.streams.info(HOSTS)).state.messages).toBe(3);
    } finally {
      await nc.close();
    }
  });

  it("the controller's `hosts delete` still works on a bucket that refuses rollups", async () => {
    const nc = await connect({ servers: nats.server.url });
    const bus = await ControllerBus.connect({ connection: { servers: nats.server.url }, replicas: 1, log: quiet, onInvalid: () => undefined });
    try {
      const kv = await new Kvm(nc).open(HOSTS_BUCKET);
      await kv.put("gone", "x");
      await bus.deleteHost("gone");
      expect(await kv.get("gone").then((e) => e?.operation)).toBe("DEL");
      expect((await kv.get("h2"))?.string()).toBe("two");
    } finally {
      await bus.close();
      await nc.close();
    }
  });

  it("a signal with Nats-Rollup is refused", async () => {
    const nc = await connect({ servers: nats.server.url });
    try {
      const h = headers();
      h.set("Nats-Rollup", "all");
      const info = await jetstreamManager(nc).then((j) => j.streams.info(SIGNALS_STREAM));
      const subject = info.config.subjects[0]!.replace(">", "h1.x").replace("*", "h1");
      await expect(jetstream(nc).publish(subject, "s", { headers: h })).rejects.toThrow(/rollup/i);
    } finally {
      await nc.close();
    }
  });
});
