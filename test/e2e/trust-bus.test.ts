import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { BANS_BUCKET, DESIRED_BUCKET, HOSTS_BUCKET, PROTECTION_BUCKET, PROTECTION_SUBJECT, SCHEMA_VERSION, SIGNAL_WILDCARD, SIGNALS_STREAM, banKey, envelopeText, loadSigningKey, newDecision, signPayload, signalSubject } from "@fleetwall/api";
import { attacker } from "../harness/netns.js";
import { securedFleet, type SecuredFleet } from "../harness/secured-fleet.js";
import type { FleetHost } from "../harness/fleet.js";
import { waitFor } from "../harness/sh.js";

// #18 rows 3, 4, 8, 9 and 10 on the documented secured fleet: the bus cannot be clogged or filled,
// agents cannot create consumers (they catch up by direct get), operators' consumers cannot be
// turned against other hosts, decisions cannot be replayed, and a deleted
// arbiter consumer is made again. A real detection is still shared within a second.
const BANS_STREAM = `KV_${BANS_BUCKET}`;
/** Every fleetwall stream and a filter of its subjects. */
const STREAMS: [string, string][] = [
  [BANS_STREAM, `$KV.${BANS_BUCKET}.>`],
  [`KV_${DESIRED_BUCKET}`, `$KV.${DESIRED_BUCKET}.>`],
  [`KV_${HOSTS_BUCKET}`, `$KV.${HOSTS_BUCKET}.>`],
  [`KV_${PROTECTION_BUCKET}`, `$KV.${PROTECTION_BUCKET}.>`],
  [SIGNALS_STREAM, SIGNAL_WILDCARD],
];

/** The consumers of every fleetwall stream, as `<stream> <consumer>`, sorted. */
async function consumerNames(jsm: JetStreamManager): Promise<string[]> {
  const out: string[] = [];
  for (const [stream] of STREAMS) for await (const c of jsm.consumers.list(stream)) out.push(`${stream} ${c.name}`);
  return out.sort();
}

describe("the bus cannot be clogged, filled or turned (#18 rows 3, 4, 8, 9, 10)", () => {
  let s: SecuredFleet;
  let t1: FleetHost;
  let t2: FleetHost;

  const log = () => s.fleet.controller?.log() ?? "";
  const metric = async (name: string) => {
    const { body } = await s.fleet.httpGet(`http://${s.fleet.controllerHttp}/metrics`);
    return body.split("\n").filter((l) => l.startsWith(name)).join("\n");
  };

  beforeAll(async () => {
    s = await securedFleet(["t1", "t2"], { attackers: 4 });
    [t1, t2] = s.fleet.hosts as [FleetHost, FleetHost];
  }, 120_000);

  afterAll(async () => {
    await s?.destroy();
  });

  it("row 3: 1,000 signals the controller cannot use are terminated once each, and a real detection is shared within a second meanwhile", async () => {
    const js = jetstream(await s.as("agent-t1"));
    const bad = { schemaVersion: SCHEMA_VERSION, hostId: "t1", jail: "x y", address: "203.0.113.99", failures: 5, at: new Date().toISOString(), banSeconds: 60 };
    const flood = Promise.all(Array.from({ length: 1000 }, () => js.publish(signalSubject("t1"), JSON.stringify(bad))));
    expect(await s.detect(t1, t2, attacker(1))).toBeLessThan(1000);
    await flood;
    await waitFor("every bad signal dropped", async () => (await metric("fleetwall_controller_invalid_messages")).includes('kind="signal"} 1000'), 60_000, 200);
    const jsm = await jetstreamManager(await s.as("controller"));
    const info = await jsm.consumers.info(SIGNALS_STREAM, "fleetwall-arbiter");
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_redelivered).toBe(0);
    // dropped once each (the metric says 1,000, not more); the log says so once per reason and 10 s, with a count
    await new Promise((r) => setTimeout(r, 1500));
    expect(await metric("fleetwall_controller_invalid_messages")).toContain('kind="signal"} 1000');
    expect(log().split("\n").filter((l) => l.includes("invalid message dropped")).length).toBe(1);
    await waitFor("the count of the rest", () => log().includes('"suppressed":999'), 60_000, 200);
  }, 180_000);

  it("row 4: signals over 4 KiB are refused by the stream, which stays small; operators' bans still work", async () => {
    const js = jetstream(await s.as("agent-t1"));
    const big = JSON.stringify({ schemaVersion: SCHEMA_VERSION, hostId: "t1", jail: "sshd", address: "203.0.113.98", failures: 5, at: "x".repeat(200_000), banSeconds: 60 });
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => js.publish(signalSubject("t1"), big)));
    expect(results.every((r) => r.status === "rejected")).toBe(true);
    expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/maximum|size/i);
    const jsm = await jetstreamManager(await s.as("controller"));
    const stream = await jsm.streams.info(SIGNALS_STREAM);
    expect(stream.state.bytes).toBeLessThan(1024 * 1024);
    expect(stream.config.max_msg_size).toBe(4096);
    expect(stream.config.max_msgs_per_subject).toBeGreaterThan(0);
    for (const b of [BANS_STREAM, "KV_fleetwall-desired", "KV_fleetwall-hosts"]) {
      const c = (await jsm.streams.info(b)).config;
      expect([b, c.max_bytes > 0, c.max_msg_size > 0, c.discard]).toEqual([b, true, true, "new"]);
    }
    await s.fleet.cli(["bans", "add", "203.0.113.61", ...s.operator]);
    await waitFor("the operator's ban on t2", () => s.banned(t2, "203.0.113.61"), 30_000);
    // and a real detection is shared within a second
    expect(await s.detect(t1, t2, "203.0.113.201")).toBeLessThan(1000);
  }, 180_000);

  it("row 8: an agent's nkey may create no consumer on any stream, nor delete one: every request is refused while a real detection is shared within a second and ban puts keep working", async () => {
    const jsm = await jetstreamManager(await s.as("agent-t1"), { checkAPI: false });
    const admin = await jetstreamManager(await s.as("controller"));
    const before = await consumerNames(admin);
    const attempts = (i: number) => [
      ...STREAMS.flatMap(([stream, filter]) => [
        // the filtered-create subject agents were allowed before, delivering into other streams' keys
        jsm.consumers.add(stream, { name: `evil${i}`, deliver_subject: `$KV.${DESIRED_BUCKET}.t2`, filter_subject: filter, ack_policy: AckPolicy.None }),
        jsm.consumers.add(stream, { name: `shield${i}`, deliver_subject: PROTECTION_SUBJECT, filter_subject: filter, ack_policy: AckPolicy.None }),
        jsm.consumers.add(stream, { durable_name: `stay${i}`, ack_policy: AckPolicy.Explicit }),
        jsm.consumers.add(stream, { deliver_subject: `_INBOX_t1.e${i}`, ack_policy: AckPolicy.None }),
      ]),
      jsm.consumers.delete(SIGNALS_STREAM, "fleetwall-arbiter"),
    ];
    let trying = true;
    let refused = 0;
    const wrong: string[] = [];
    const attack = (async () => {
      for (let i = 0; trying; i += 1) {
        for (const r of await Promise.allSettled(attempts(i))) {
          if (r.status === "rejected" && /Permissions Violation/.test(String(r.reason))) refused += 1;
          else wrong.push(r.status === "fulfilled" ? `accepted: ${JSON.stringify(r.value).slice(0, 200)}` : String(r.reason));
        }
      }
    })();
    try {
      await waitFor("refusals under way", () => refused >= 200, 30_000, 50);
      expect(await s.detect(t2, t1, attacker(0))).toBeLessThan(1000);
      await s.fleet.cli(["bans", "add", "203.0.113.63", ...s.operator]);
      await waitFor("the operator's ban on both hosts", async () => (await s.banned(t1, "203.0.113.63")) && (await s.banned(t2, "203.0.113.63")), 30_000);
    } finally {
      trying = false;
      await attack;
    }
    expect(wrong).toEqual([]);
    expect(refused).toBeGreaterThanOrEqual(200);
    // the server made none of them: the streams hold exactly the consumers they held before
    expect(await consumerNames(admin)).toEqual(before);
    expect(log()).not.toContain("consumer refused and deleted");
    await s.fleet.waitInSync(30_000);
  }, 180_000);

  it("row 8: an agent restarted with 1,200 bans in the bucket catches up without a consumer: every ban in its set, nothing it asked refused", async () => {
    const admin = await jetstreamManager(await s.as("controller"));
    const addr = (i: number) => `2001:db8:fffe::${(i + 1).toString(16)}`;
    const n = 1200;
    await t1.agent?.stop();
    const file = join(s.creds, "bulk.txt");
    writeFileSync(file, Array.from({ length: n }, (_, i) => addr(i)).join("\n"));
    expect(await s.fleet.cli(["bans", "import", file, "--list", "bulk", "--duration", "1h", ...s.operator], 120_000)).toContain(`published ${n}, refused 0`);
    await waitFor("the bans on t2", () => s.banned(t2, addr(n - 1)), 60_000);
    const before = await consumerNames(admin);
    const violations = () => (s.fleet.nats.proc.log().match(/Permissions Violation/g) ?? []).length;
    const refusedBefore = violations();
    s.fleet.startAgent(t1, ["--nats-nkey", join(s.creds, "agent-t1.nk")]);
    // the set, listed: every one of the 1,200 addresses is there
    const listed = async () => {
      const out = await s.fleet.nft(t1, ["list", "set", "inet", "fleetwall_bans", "ban6"]).catch(() => "");
      return new Set(String(out).match(/2001:db8:fffe::[0-9a-f]+/g) ?? []).size;
    };
    await waitFor("t1's set holds the 1,200 bans", async () => (await listed()) === n, 120_000, 500).catch(async (error: unknown) => {
      const lines = (t1.agent?.log() ?? "").split("\n").filter((l) => /bans|catch/i.test(l)).slice(-20);
      throw new Error(`${String(error)}; listed ${await listed()}; t1's log:\n${lines.join("\n")}`);
    });
    expect(t1.agent?.log()).toContain("catching up with the bans bucket");
    // no consumer was made for it (the streams hold what they held), and the server refused it nothing
    expect(await consumerNames(admin)).toEqual(before);
    expect(violations()).toBe(refusedBefore);
    await s.fleet.waitInSync(60_000);
  }, 240_000);

  it("row 8, reply subjects: a JetStream response an agent directs into another host's desired state, the protection list, a ban's key or a registration comes back to the agents' account and is stored in no stream, with no controller running to repair it", async () => {
    const ctl = await s.as("controller");
    const jsm = await jetstreamManager(ctl);
    const kvm = new Kvm(ctl);
    const desired = await kvm.open(DESIRED_BUCKET, { bindOnly: true });
    const protection = await kvm.open(PROTECTION_BUCKET, { bindOnly: true });
    // no controller: whatever a stream stores now stays, nothing repairs it
    await s.fleet.controller?.stop();
    const lastSeqs = async () => Object.fromEntries(await Promise.all(STREAMS.map(async ([name]) => [name, (await jsm.streams.info(name)).state.last_seq] as const)));
    const before = await lastSeqs();
    const t2State = (await desired.get("t2"))?.string();
    const shield = (await protection.get("fleet"))?.string();
    expect(t2State).toContain("signature");
    // what comes back in the agents' account on the subjects it chose (t2 may hear its own key)
    const heard: string[] = [];
    const t2nc = await s.as("agent-t2");
    t2nc.subscribe(`$KV.${DESIRED_BUCKET}.t2`, { callback: (_e, m) => void heard.push(m.string().slice(0, 60)) });
    await t2nc.flush();
    const nc = await s.as("agent-t1");
    // nats-server checks a request's subject against the agent's rights, never its reply subject; the
    // agent's request reaches FLEET through a service import, with a reply subject of the server's own
    nc.publish(`$JS.API.STREAM.INFO.${BANS_STREAM}`, "", { reply: `$KV.${DESIRED_BUCKET}.t2` });
    nc.publish(`$JS.API.DIRECT.GET.${BANS_STREAM}`, JSON.stringify({ seq: 1, next_by_subj: `$KV.${BANS_BUCKET}.>` }), { reply: PROTECTION_SUBJECT });
    nc.publish("$JS.API.INFO", "", { reply: `$KV.${BANS_BUCKET}.${banKey("cli", "203.0.113.64")}` });
    nc.publish(`$JS.API.STREAM.INFO.${BANS_STREAM}`, "", { reply: `$KV.${HOSTS_BUCKET}.t2` });
    nc.publish(`$JS.API.DIRECT.GET.${BANS_STREAM}`, JSON.stringify({ seq: 1, next_by_subj: `$KV.${BANS_BUCKET}.>` }), { reply: `$KV.${BANS_BUCKET}.x` });
    // into an imported service's subject in AGENTS: a response is not sent on into FLEET
    nc.publish("$JS.API.INFO", "", { reply: signalSubject("t2") });
    nc.publish(`$JS.API.STREAM.INFO.${BANS_STREAM}`, "", { reply: `$KV.${HOSTS_BUCKET}.t1` });
    // a signal whose PubAck is sent to t2's key (a malformed one: the controller drops it once it runs)
    nc.publish(signalSubject("t1"), "{}", { reply: `$KV.${DESIRED_BUCKET}.t2` });
    await nc.flush();
    // the server answered both requests sent to t2's key: in AGENTS, where no stream is
    await waitFor("the responses back in the agents' account", () => heard.some((m) => m.startsWith('{"type":"io.nats.jetstream.api.v1.stream_info')) && heard.some((m) => m.startsWith('{"stream":"fleetwall-signals"')), 30_000, 20);
    await ctl.flush();
    // every fleetwall stream holds what it held, but the one signal
    expect(await lastSeqs()).toEqual({ ...before, [SIGNALS_STREAM]: (before[SIGNALS_STREAM] as number) + 1 });
    expect((await desired.get("t2"))?.string()).toBe(t2State);
    expect((await protection.get("fleet"))?.string()).toBe(shield);
    // a controller started again finds nothing to repair; the hosts stay in sync and detections are shared
    await s.fleet.startController(["--nats-nkey", join(s.creds, "controller.nk")]);
    await waitFor("the controller ready", async () => (await s.fleet.httpGet(`http://${s.fleet.controllerHttp}/readyz`).catch(() => ({ status: 0 }))).status === 200, 60_000, 200);
    await s.fleet.waitInSync(60_000);
    expect(await s.detect(t2, t1, attacker(3))).toBeLessThan(1000);
    expect(log()).not.toMatch(/overwritten by another writer|unreadable value in the (bans|hosts) bucket/);
  }, 180_000);

  it("row 8 (the guard, for consumers made with FLEET keys): a consumer delivering into another host's desired state, a durable one, past four per inbox prefix, and into inboxes nobody listens on are deleted; the hosts stay in sync", async () => {
    // neither agents nor operators may create consumers (refused below); FLEET's controller key may,
    // and the server does not check the deliver subject: the guard judges what such a key makes
    await expect(jetstreamManager(await s.as("operator")).then((op) => op.consumers.add(BANS_STREAM, { name: "op", deliver_subject: "_INBOX.op", ack_policy: AckPolicy.None }))).rejects.toThrow(/Permissions Violation/);
    const jsm = await jetstreamManager(await s.as("controller"));
    const filter = `$KV.${BANS_BUCKET}.>`;
    const push = (name: string, deliver: string) => jsm.consumers.add(BANS_STREAM, { name, deliver_subject: deliver, filter_subject: filter, ack_policy: AckPolicy.None, inactive_threshold: 300e9 });
    await jsm.consumers.add(BANS_STREAM, { name: "evil", deliver_subject: "$KV.fleetwall-desired.t2", filter_subject: filter, ack_policy: AckPolicy.None });
    await jsm.consumers.add(BANS_STREAM, { durable_name: "stay", deliver_subject: "_INBOX_t1.stay", filter_subject: filter, ack_policy: AckPolicy.None }).catch(() => undefined);
    for (let i = 0; i < 6; i += 1) await push(`many${i}`, `_INBOX_t1.many${i}`);
    // nobody listens under these: such consumers only take room
    for (let i = 0; i < 80; i += 1) await push(`shared${i}`, `_INBOX.atk.${i}`);
    for (let i = 0; i < 6; i += 1) await push(`other${i}`, `_INBOX_t2.atk${i}`);
    await waitFor("the guard's deletions", () => log().includes('"consumer":"evil"') && log().includes('"consumer":"stay"') && log().includes("_INBOX_t1 has more than 4 consumers on the bans stream"), 30_000);
    expect(log()).toContain("delivers to $KV.fleetwall-desired.t2, outside any inbox");
    const admin = await jetstreamManager(await s.as("controller"));
    const names = async () => {
      const left: string[] = [];
      for await (const c of admin.consumers.list(BANS_STREAM)) left.push(c.name);
      return left;
    };
    // nobody listens on any of them: all go within the grace time; the newest over a cap go at once
    await waitFor("unlistened consumers deleted", async () => (await names()).every((n) => !/^(evil|stay|many|shared|other)/.test(n)), 30_000);
    expect(log()).toContain("nobody listens on its deliver subject");
    expect(log()).toContain("_INBOX has more than 64 consumers on the bans stream");
    // a flood of consumers is not a flood of lines: one per reason every 10 s, then a count
    await waitFor("the deletions summarized", () => log().includes("consumers refused and deleted, not logged one by one"), 60_000);
    expect(log().split("\n").filter((l) => l.includes('"msg":"consumer refused and deleted"')).length).toBeLessThan(20);
    // the controller still follows the bucket, and every host is in sync and gets new bans
    await s.fleet.waitInSync(30_000);
  }, 180_000);

  it("row 9: a decision put back long after it was signed is refused by every agent and deleted by the controller", async () => {
    const key = loadSigningKey(readFileSync(s.fleet.signingKey, "utf8"));
    const hourAgo = Date.now() - 3600_000;
    const old = { ...newDecision({ list: "cli", cidr: "203.0.113.70", reason: "lifted an hour ago", createdAtMs: hourAgo, expiresAtMs: Date.now() + 86_400_000, source: "cli" }), issuedAt: new Date(hourAgo).toISOString() };
    const bans = await new Kvm(await s.as("controller")).open(BANS_BUCKET, { bindOnly: true });
    await bans.put(banKey("cli", "203.0.113.70"), envelopeText(signPayload(key, JSON.stringify(old))));
    await waitFor("both agents refused it", () => [t1, t2].every((h) => /"reason":"replayed: issued/.test(h.agent?.log() ?? "")), 30_000);
    await waitFor("the controller deleted it", async () => (await bans.get(banKey("cli", "203.0.113.70")))?.operation === "DEL", 30_000);
    expect(log()).toContain("replayed decision in the bans bucket; undoing it");
    for (const h of [t1, t2]) expect(await s.banned(h, "203.0.113.70")).toBe(false);
    // a ban lifted a moment ago, its very envelope put back: the controller undoes it at once
    await s.fleet.cli(["bans", "add", "203.0.113.71", ...s.operator]);
    const lifted = await waitFor("the ban stored", async () => (await bans.get(banKey("cli", "203.0.113.71")))?.value, 30_000);
    await s.fleet.cli(["bans", "delete", "203.0.113.71", ...s.operator]);
    await waitFor("the ban lifted on t2", async () => !(await s.banned(t2, "203.0.113.71")), 30_000);
    await bans.put(banKey("cli", "203.0.113.71"), lifted);
    await waitFor("the put-back undone", () => log().includes("a decision lifted since"), 30_000);
    await waitFor("the key deleted again", async () => (await bans.get(banKey("cli", "203.0.113.71")))?.operation === "DEL", 30_000);
    await waitFor("not enforced on any host", async () => !(await s.banned(t1, "203.0.113.71")) && !(await s.banned(t2, "203.0.113.71")), 30_000);
    // and a real detection is shared within a second
    expect(await s.detect(t1, t2, "203.0.113.202")).toBeLessThan(1000);
  }, 180_000);

  it("row 10: a deleted arbiter consumer is made again, and says so; detections are shared within a second after", async () => {
    // (operators may delete no consumer: FLEET's controller key stands for whoever could)
    const jsm = await jetstreamManager(await s.as("controller"));
    // nats-server 2.9 sometimes refuses a delete while the consumer writes its state: ask again
    await waitFor("the arbiter's consumer deleted", () => jsm.consumers.delete(SIGNALS_STREAM, "fleetwall-arbiter").catch(() => undefined), 30_000, 100);
    await waitFor("the controller recreated it", () => log().includes("arbiter consumer was missing; recreated"), 30_000);
    expect(await s.detect(t2, t1, attacker(2))).toBeLessThan(1000);
    expect(await metric("fleetwall_controller_arbiter_consumer_recreations_total")).toMatch(/ [1-9]\d*$/);
  }, 180_000);

  it("an operator's bans list reads the decisions by direct get: it makes no consumer, and lists the bans", async () => {
    const admin = await jetstreamManager(await s.as("controller"));
    const names = async () => {
      const left: string[] = [];
      for await (const c of admin.consumers.list(BANS_STREAM)) left.push(c.name);
      return left;
    };
    const before = await names();
    for (let i = 0; i < 3; i += 1) expect(await s.fleet.cli(["bans", "list", ...s.operator])).toMatch(/^fleet\s+cli\s+Deny\s+203\.0\.113\.63\s/m);
    expect((await names()).filter((n) => !before.includes(n))).toEqual([]);
  }, 60_000);
});
