import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DESIRED_BUCKET } from "@fleetwall/api";
import { loopbackNats } from "../../test/harness/loopback-nats.js";
import { waitFor } from "../../test/harness/sh.js";
import { AgentLink } from "./link.js";

const log = pino({ level: "silent" });
const text = (d: Uint8Array) => new TextDecoder().decode(d);

// a real nats-server with JetStream on loopback; the bucket as the controller creates it
describe("AgentLink.watchDesired", () => {
  const nats = loopbackNats("link");
  let ctl: NatsConnection;
  let kv: KV;

  beforeAll(async () => {
    ctl = await connect({ servers: nats.server.url });
    kv = await new Kvm(ctl).create(DESIRED_BUCKET, { history: 1 });
  });
  afterAll(async () => {
    await ctl?.close();
  });

  it("delivers the stored state, then each update once, and what was put while it was away", async () => {
    await kv.put("w1", "v1");
    const link = await AgentLink.connect({ connection: { servers: nats.server.url }, hostId: "w1", log });
    const got: [string, boolean][] = [];
    const ac = new AbortController();
    const following = link.watchDesired(async (data, stored) => void got.push([text(data), stored]), ac.signal);
    try {
      await waitFor("the stored state", () => got.length === 1, 10_000, 20);
      expect(got).toEqual([["v1", true]]);
      // updates as they are put; the same state again and another host's are not handed on
      await kv.put("w1", "v2");
      await kv.put("w1", "v2");
      await kv.put("w2", "not mine");
      await kv.put("w1", "v3");
      await waitFor("v3", () => got.some(([v]) => v === "v3"), 10_000, 20);
      expect(got).toEqual([["v1", true], ["v2", false], ["v3", false]]);
      // the server goes away and comes back; a state is put before the link has reconnected
      await nats.server.stop();
      await nats.server.restart();
      const other = await connect({ servers: nats.server.url });
      await new Kvm(other).open(DESIRED_BUCKET).then((b) => b.put("w1", "v4"));
      await other.close();
      await waitFor("v4 after the restart", () => got.some(([v]) => v === "v4"), 20_000, 50);
      expect(got.map(([v]) => v)).toEqual(["v1", "v2", "v3", "v4"]);
    } finally {
      ac.abort();
      await following.catch(() => undefined);
      await link.close();
    }
  });
});

describe("AgentLink.watchDesired without permission to subscribe", () => {
  // everything allowed but the desired-state subjects: the permissions of an older configuration
  const nats = loopbackNats("link-denied", `authorization { users = [ { user: "ctl", password: "ctl" }, { user: "agent", password: "agent", permissions: { subscribe: { deny: ["$KV.${DESIRED_BUCKET}.>"] } } } ] }\n`);

  it("says so in the log and still delivers the stored state", async () => {
    const ctl = await connect({ servers: nats.server.url, user: "ctl", pass: "ctl" });
    const lines: string[] = [];
    const logged = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
    const ac = new AbortController();
    try {
      await (await new Kvm(ctl).create(DESIRED_BUCKET, { history: 1 })).put("w1", "v1");
      const link = await AgentLink.connect({ connection: { servers: nats.server.url, user: "agent", pass: "agent" }, hostId: "w1", log: logged });
      const got: string[] = [];
      const following = link.watchDesired(async (data) => void got.push(text(data)), ac.signal);
      await waitFor("the refusal in the log", () => lines.some((l) => l.includes("desired-state subscription ended")), 10_000, 50);
      expect(got).toEqual(["v1"]);
      expect(lines.find((l) => l.includes("desired-state subscription ended"))).toMatch(/permission/i);
      ac.abort();
      await following;
      await link.close();
    } finally {
      ac.abort();
      await ctl.close();
    }
  });
});
