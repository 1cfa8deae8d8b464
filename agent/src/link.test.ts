import { connect, headers, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BANS_BUCKET, BANS_LIVE_PREFIX, BANS_REPUBLISH, DESIRED_BUCKET, HOSTS_BUCKET, type HostRegistration } from "@fleetwall/api";
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
      await waitFor("the stored state", () => got.length === 1, 30_000, 20);
      expect(got).toEqual([["v1", true]]);
      // updates as they are put; the same state again and another host's are not handed on
      await kv.put("w1", "v2");
      await kv.put("w1", "v2");
      await kv.put("w2", "not mine");
      // a direct get's answer sent to the key's subject (it names its stream) is dropped unread
      ctl.publish(`$KV.${DESIRED_BUCKET}.w1`, "answer", { headers: headersWith({ "Nats-Stream": `KV_${DESIRED_BUCKET}`, "Nats-Subject": `$KV.${DESIRED_BUCKET}.w1`, "Nats-Sequence": "99" }) });
      await kv.put("w1", "v3");
      await waitFor("v3", () => got.some(([v]) => v === "v3"), 30_000, 20);
      expect(got).toEqual([["v1", true], ["v2", false], ["v3", false]]);
      expect(link.bogusLive).toBe(1);
      // the server goes away and comes back; a state is put before the link has reconnected
      await nats.server.stop();
      await nats.server.restart();
      const other = await connect({ servers: nats.server.url });
      await new Kvm(other).open(DESIRED_BUCKET).then((b) => b.put("w1", "v4"));
      await other.close();
      await waitFor("v4 after the restart", () => got.some(([v]) => v === "v4"), 60_000, 50);
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
      await waitFor("the refusal in the log", () => lines.some((l) => l.includes("bucket key subscription ended")), 30_000, 50);
      expect(got).toEqual(["v1"]);
      expect(lines.find((l) => l.includes("bucket key subscription ended"))).toMatch(/permission/i);
      ac.abort();
      await following;
      await link.close();
    } finally {
      ac.abort();
      await ctl.close();
    }
  });
});

describe("AgentLink.register while the server refuses the write", () => {
  // the agent may not publish to its registration's subject until the configuration is reloaded
  // without that denial: a write refused for a while, as a cluster refuses one until it has leaders
  const users = (deny: string) => `authorization { users = [ { user: "ctl", password: "ctl" }, { user: "agent", password: "agent", permissions: { publish: { deny: [${deny}] } } } ] }\n`;
  const nats = loopbackNats("link-register", users(`"$KV.${HOSTS_BUCKET}.r1"`));

  it("retries until the registration is stored, and says so in the log", async () => {
    const ctl = await connect({ servers: nats.server.url, user: "ctl", pass: "ctl" });
    const lines: string[] = [];
    const logged = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
    const ac = new AbortController();
    const link = await AgentLink.connect({ connection: { servers: nats.server.url, user: "agent", pass: "agent", timeout: 2000 }, hostId: "r1", log: logged });
    try {
      const hosts = await new Kvm(ctl).create(HOSTS_BUCKET, { history: 1 });
      let done = false;
      const registering = link.register({ schemaVersion: 1, hostId: "r1", startedAt: new Date().toISOString(), addresses: [], labels: {}, agentVersion: "test", nftVersion: "test" } satisfies HostRegistration, ac.signal).then(() => void (done = true));
      await waitFor("a refused registration in the log", () => lines.some((l) => l.includes("registration not stored; retrying")), 60_000, 50);
      expect(done).toBe(false);
      expect(await hosts.get("r1")).toBeNull();
      // lift the denial: nats-server reloads its configuration on SIGHUP (JetStream must be in the
      // file then, or the reload turns it off)
      writeFileSync(join(nats.server.storeDir, "extra.conf"), `jetstream { store_dir: ${JSON.stringify(nats.server.storeDir)} }\n${users(`"nothing.else"`)}`);
      process.kill(nats.server.proc.child.pid as number, "SIGHUP");
      await registering;
      expect(JSON.parse(text((await hosts.get("r1"))?.value ?? new Uint8Array())).hostId).toBe("r1");
    } finally {
      ac.abort();
      await link.close();
      await ctl.close();
    }
  });
});

describe("AgentLink.register when the registration is gone from the bucket", () => {
  const nats = loopbackNats("link-reregister");

  it("puts it again when its key holds nothing, never over a registration or an operator's delete", async () => {
    const ctl = await connect({ servers: nats.server.url });
    const lines: string[] = [];
    const logged = pino({ level: "debug" }, { write: (line: string) => void lines.push(line) });
    const ac = new AbortController();
    const link = await AgentLink.connect({ connection: { servers: nats.server.url }, hostId: "g1", log: logged, reregisterMs: 50 });
    try {
      const hosts = await new Kvm(ctl).create(HOSTS_BUCKET, { history: 1 });
      const reg = { schemaVersion: 1, hostId: "g1", startedAt: new Date().toISOString(), addresses: ["198.18.0.1"], labels: {}, agentVersion: "test", nftVersion: "test" } satisfies HostRegistration;
      await link.register(reg, ac.signal);
      const first = (await hosts.get("g1"))?.revision;
      // each check the server refused (the key holds a message) is logged at debug
      const refusals = () => lines.filter((l) => l.includes("registration not put again")).length;
      const checks = async (n: number) => {
        const from = refusals();
        await waitFor(`${n} more checks`, () => refusals() >= from + n, 30_000, 20);
      };
      // present: after several checks, the key holds the same revision (no put over it)
      await checks(3);
      expect((await hosts.get("g1"))?.revision).toBe(first);
      // removed without a delete marker (as a rollup did): stored again
      await (await jetstreamManager(ctl)).streams.purge(`KV_${HOSTS_BUCKET}`, { filter: `$KV.${HOSTS_BUCKET}.g1` });
      await waitFor("the registration stored again", async () => (await hosts.get("g1"))?.operation === "PUT", 30_000, 50);
      expect(JSON.parse(text((await hosts.get("g1"))?.value ?? new Uint8Array()))).toEqual(reg);
      expect(lines.some((l) => l.includes("registration was gone from the hosts bucket"))).toBe(true);
      // an operator's `hosts delete` stays
      await hosts.delete("g1");
      const marker = (await hosts.get("g1"))?.revision;
      await checks(3);
      expect(await hosts.get("g1").then((e) => [e?.operation, e?.revision])).toEqual(["DEL", marker]);
    } finally {
      ac.abort();
      await link.close();
      await ctl.close();
    }
  });
});

/**
 * Follows the bans bucket with a new link. `got` collects "key=value" and "key deleted" in order,
 * `state` what the follower holds now, `lines` what it logged (at info).
 */
async function followBans(connection: NodeConnectionOptions, heldLiveLimit?: number, heldLiveBytes?: number) {
  const lines: string[] = [];
  const log = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
  const link = await AgentLink.connect({ connection, hostId: "b1", log, ...(heldLiveLimit ? { heldLiveLimit } : {}), ...(heldLiveBytes ? { heldLiveBytes } : {}) });
  const got: string[] = [];
  const state = new Map<string, string>();
  const ac = new AbortController();
  const following = link.watchBans((key, data) => {
    got.push(data ? `${key}=${text(data)}` : `${key} deleted`);
    if (data) state.set(key, text(data));
    else state.delete(key);
  }, ac.signal);
  return {
    link,
    got,
    state,
    lines,
    async stop() {
      ac.abort();
      await following.catch(() => undefined);
      await link.close();
    },
  };
}

describe("AgentLink.watchBans", () => {
  const nats = loopbackNats("link-bans");
  let ctl: NatsConnection;
  let kv: KV;

  beforeAll(async () => {
    ctl = await connect({ servers: nats.server.url });
    kv = await new Kvm(ctl).create(BANS_BUCKET, { history: 1, republish: BANS_REPUBLISH });
  });
  afterAll(async () => {
    await ctl?.close();
  });

  it("delivers the stored decisions, then each change live and in order, and what changed while it was away", async () => {
    await kv.put("l.a", "1");
    await kv.put("l.b", "2");
    const f = await followBans({ servers: nats.server.url });
    try {
      await waitFor("the stored decisions", () => f.got.length === 2, 30_000, 20);
      // the catch-up reads by direct get: the bans stream never has a consumer
      const consumers = async () => (await (await jetstreamManager(ctl)).streams.info(`KV_${BANS_BUCKET}`)).state.consumer_count;
      expect(await consumers()).toBe(0);
      await kv.put("l.c", "3");
      await kv.delete("l.a");
      await kv.put("l.b", "4");
      await kv.purge("l.c");
      await waitFor("four changes", () => f.got.length === 6, 30_000, 20);
      expect(await consumers()).toBe(0);
      // the server goes away and comes back; a decision is put before the link has reconnected
      await nats.server.stop();
      await nats.server.restart();
      const other = await connect({ servers: nats.server.url });
      await new Kvm(other).open(BANS_BUCKET).then((b) => b.put("l.d", "5"));
      await other.close();
      await waitFor("l.d after the restart", () => f.got.includes("l.d=5"), 60_000, 50);
      expect(f.got).toEqual(["l.a=1", "l.b=2", "l.c=3", "l.a deleted", "l.b=4", "l.c deleted", "l.d=5"]);
    } finally {
      await f.stop();
    }
  });
});

describe("AgentLink.watchBans while the bucket changes under a catch-up", () => {
  const nats = loopbackNats("link-bans-busy");

  it.each([
    { what: "more changes", limit: 5, bytes: undefined },
    { what: "more bytes", limit: undefined, bytes: 40 },
  ])("ends with exactly the bucket's decisions when $what come live than it can hold", async ({ limit, bytes }) => {
    const ctl = await connect({ servers: nats.server.url });
    // each case starts from an empty bucket
    await (await jetstreamManager(ctl)).streams.delete(`KV_${BANS_BUCKET}`).catch(() => undefined);
    const kv = await new Kvm(ctl).create(BANS_BUCKET, { history: 1, republish: BANS_REPUBLISH });
    const expected = new Map<string, string>();
    // a backlog long enough that the changes below come while it is read
    for (let start = 0; start < 20_000; start += 1_000) {
      await Promise.all(Array.from({ length: 1_000 }, (_, k) => kv.put(`m.${start + k}`, "v1")));
    }
    for (let i = 0; i < 20_000; i += 1) expected.set(`m.${i}`, "v1");
    const f = await followBans({ servers: nats.server.url }, limit, bytes);
    const seen = f.state;
    try {
      await waitFor("the first stored decisions", () => seen.size > 0, 30_000, 1);
      expect(seen.size).toBeLessThan(10_000);
      // updates, deletions and new keys while the follower is still reading the bucket
      const changes: Promise<unknown>[] = [];
      for (let i = 0; i < 300; i += 1) {
        const key = `m.${(i * 7919) % 20_300}`;
        if (i % 5 === 0) {
          changes.push(kv.delete(key));
          expected.delete(key);
        } else {
          changes.push(kv.put(key, `v2-${i}`));
          expected.set(key, `v2-${i}`);
        }
      }
      await Promise.all(changes);
      const same = () => seen.size === expected.size && [...expected].every(([k, v]) => seen.get(k) === v);
      await waitFor("the follower's decisions equal to the bucket's", same, 60_000, 50);
      expect(f.lines.some((l) => l.includes("reading the bucket again"))).toBe(true);
      // what did not fit was read again at once, not found missing later
      expect(f.lines.filter((l) => l.includes("not delivered"))).toEqual([]);
      // and it stays live: one more change arrives without another catch-up
      const rounds = f.lines.filter((l) => l.includes("catching up")).length;
      await kv.put("m.last", "v3");
      await waitFor("m.last", () => seen.get("m.last") === "v3", 30_000, 20);
      expect(f.lines.filter((l) => l.includes("catching up")).length).toBe(rounds);
    } finally {
      await f.stop();
      await ctl.close();
    }
  });
});

describe("AgentLink.watchBans with entries it did not get live", () => {
  // the server withholds one subject from the agent's live subscription (not from its catch-up's direct gets)
  const nats = loopbackNats("link-bans-gap", `authorization { users = [ { user: "ctl", password: "ctl" }, { user: "agent", password: "agent", permissions: { subscribe: { deny: ["${BANS_LIVE_PREFIX}l.x"] } } } ] }\n`);

  it("catches up when a revision is skipped, and drops live entries the bucket never stored", async () => {
    const ctl = await connect({ servers: nats.server.url, user: "ctl", pass: "ctl" });
    const f = await followBans({ servers: nats.server.url, user: "agent", pass: "agent" });
    const { got, lines, link } = f;
    try {
      const kv = await new Kvm(ctl).create(BANS_BUCKET, { history: 1, republish: BANS_REPUBLISH });
      await kv.put("l.a", "1");
      await waitFor("l.a", () => got.length === 1, 30_000, 20);
      // l.x is stored but not seen live; the next entry shows the hole at once
      await kv.put("l.x", "2");
      await kv.put("l.y", "3");
      await waitFor("l.x and l.y", () => got.length === 3, 30_000, 20);
      expect(got).toEqual(["l.a=1", "l.x=2", "l.y=3"]);
      expect(lines.some((l) => l.includes("not delivered live"))).toBe(true);
      // what nats-server republishes: the stream, the stored subject and its sequence
      const watch = ctl.subscribe(`${BANS_LIVE_PREFIX}l.w`, { max: 1 });
      // an entry published on the live subjects with a revision the bucket never had is dropped
      ctl.publish(`${BANS_LIVE_PREFIX}l.z`, "forged", { headers: headersWith({ "Nats-Sequence": "999" }) });
      // the next revision, as a direct get's answer from another stream carries it (the hijack)
      const next = String((await kv.status()).streamInfo.state.last_seq + 1);
      ctl.publish(`${BANS_LIVE_PREFIX}l.z`, "hijack", { headers: headersWith({ "Nats-Stream": "KV_fleetwall-desired", "Nats-Subject": "$KV.fleetwall-desired.b1", "Nats-Sequence": next }) });
      // the bans stream's name with another key's stored subject
      ctl.publish(`${BANS_LIVE_PREFIX}l.z`, "other key", { headers: headersWith({ "Nats-Stream": `KV_${BANS_BUCKET}`, "Nats-Subject": `$KV.${BANS_BUCKET}.l.q`, "Nats-Sequence": next }) });
      await kv.put("l.w", "4");
      await waitFor("l.w", () => got.includes("l.w=4"), 30_000, 20);
      await waitFor("the forged entries dropped", () => link.bogusLive === 3, 30_000, 20);
      for await (const m of watch) {
        expect(m.headers?.get("Nats-Stream")).toBe(`KV_${BANS_BUCKET}`);
        expect(m.headers?.get("Nats-Subject")).toBe(`$KV.${BANS_BUCKET}.l.w`);
        expect(m.headers?.get("Nats-Sequence")).toBe(next);
      }
      await kv.put("l.v", "5");
      await waitFor("l.v", () => got.includes("l.v=5"), 30_000, 20);
      expect(got).toEqual(["l.a=1", "l.x=2", "l.y=3", "l.w=4", "l.v=5"]);
      // one line for the drops, not one each
      expect(lines.filter((l) => l.includes("live ban entry dropped")).length).toBeLessThanOrEqual(3);
    } finally {
      await f.stop();
      await ctl.close();
    }
  });
});

function headersWith(values: Record<string, string>) {
  const h = headers();
  for (const [k, v] of Object.entries(values)) h.set(k, v);
  return h;
}
