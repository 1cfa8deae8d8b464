import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { BANS_BUCKET, BANS_LIVE_PREFIX, DESIRED_BUCKET, HOSTS_BUCKET, SCHEMA_VERSION, signalSubject, type HostRegistration } from "@fleetwall/api";
import { attacker } from "../harness/netns.js";
import { securedFleet, type SecuredFleet } from "../harness/secured-fleet.js";
import type { FleetHost } from "../harness/fleet.js";
import { waitFor } from "../harness/sh.js";

// #18 (review): an agent's nkey has the server send a direct get's answer from the desired-state
// stream to a live ban subject. The answer carries that stream's Nats-Sequence, which the agent
// steers to the bans stream's next revision: agents must not take it for a ban entry (the hijack),
// nor be slowed, swollen or made to log per message by a flood of them.
const BANS_STREAM = `KV_${BANS_BUCKET}`;
const OWN_DESIRED = `$JS.API.DIRECT.GET.KV_${DESIRED_BUCKET}.$KV.${DESIRED_BUCKET}.t1`;

describe("live ban entries count only from the bans bucket's stream (#18)", () => {
  let s: SecuredFleet;
  let t1: FleetHost;
  let t2: FleetHost;
  let t3: FleetHost;
  let nc: NatsConnection;

  /** Live messages an agent dropped (`live`), or messages it dropped for any reason (a malformed decision too). */
  const dropped = async (h: FleetHost, which: "live" | "messages" = "live") => {
    const { body } = await s.fleet.httpGet("http://127.0.0.1:9475/metrics", h);
    return Number(new RegExp(`^fleetwall_agent_${which}_dropped_total (\\d+)`, "m").exec(body)?.[1] ?? Number.NaN);
  };
  const rss = async (h: FleetHost) => {
    const { body } = await s.fleet.httpGet("http://127.0.0.1:9475/metrics", h);
    return Number(/^fleetwall_process_\w*resident_memory_bytes (\d+)/m.exec(body)?.[1] ?? Number.NaN);
  };
  const dropLines = (h: FleetHost) => (h.agent?.log() ?? "").split("\n").filter((l) => l.includes("live ban entry dropped") || l.includes("messages dropped, not logged one by one"));

  beforeAll(async () => {
    s = await securedFleet(["t1", "t2", "t3"], { attackers: 4 });
    [t1, t2, t3] = s.fleet.hosts as [FleetHost, FleetHost, FleetHost];
    nc = await s.as("agent-t1");
  }, 180_000);

  afterAll(async () => {
    await s?.destroy();
  });

  it("the hijack: t1's desired-state answer, sent to a live ban subject with the bans stream's next revision, is dropped; the real decision at that revision is enforced on t3 within a second", async () => {
    const ctl = await s.as("controller");
    const jsm = await jetstreamManager(ctl);
    const hosts = await new Kvm(ctl).open(HOSTS_BUCKET, { bindOnly: true });
    const registration = JSON.parse((await hosts.get("t1"))?.string() ?? "{}") as HostRegistration;
    const bansLast = async () => (await jsm.streams.info(BANS_STREAM)).state.last_seq;
    const desiredSeq = async () => Number((await nc.request(OWN_DESIRED, "", { timeout: 5000 })).headers?.get("Nats-Sequence"));
    const js = jetstream(nc);
    // as the attacker does: re-registering with other labels makes the controller publish t1's state
    // again (its sequence + 1); its own signals add decisions (the bans stream's sequence)
    let flip = false;
    const reregister = async (labels: Record<string, string>) => js.publish(`$KV.${HOSTS_BUCKET}.t1`, JSON.stringify({ ...registration, labels, startedAt: new Date().toISOString() }));
    let signals = 0;
    let [last, seq] = [await bansLast(), await desiredSeq()];
    for (let step = 0; step < 200 && seq !== last + 1; step += 1) {
      if (seq < last + 1) {
        flip = !flip;
        await reregister(flip ? { role: "none" } : registration.labels);
        const was = seq;
        seq = await waitFor("t1's desired state published again", async () => ((await desiredSeq()) !== was ? desiredSeq() : undefined), 30_000, 50);
      } else {
        signals += 1;
        await js.publish(signalSubject("t1"), JSON.stringify({ schemaVersion: SCHEMA_VERSION, hostId: "t1", jail: "sshd", address: `203.0.113.${200 + signals}`, failures: 5, at: new Date().toISOString(), banSeconds: 3600 }));
        const was = last;
        last = await waitFor("a decision stored", async () => ((await bansLast()) !== was ? bansLast() : undefined), 30_000, 50);
      }
      last = await bansLast();
    }
    expect(seq).toBe(last + 1);
    const droppedBefore = await dropped(t3);
    const anyBefore = await dropped(t3, "messages");
    // the answer carries Nats-Stream KV_fleetwall-desired, Nats-Subject $KV.fleetwall-desired.t1, Nats-Sequence last + 1
    for (const key of ["x", "l.sshd.203_0_113_9", `jail-sshd.${attacker(1)}`]) nc.publish(OWN_DESIRED, "", { reply: `${BANS_LIVE_PREFIX}${key}` });
    await nc.flush();
    // dropped by its headers, or (an agent that took it for a revision) as a malformed decision
    await waitFor("t3 dropped an answer", async () => (await dropped(t3, "messages")) > anyBefore, 30_000, 100);
    // the bans stream is where it was: the next real decision is revision last + 1 (an agent that
    // took the answer for it discards the decision as delivered: never enforced, the wait times out)
    expect(await bansLast()).toBe(last);
    expect(await s.detect(t2, t3, attacker(1))).toBeLessThan(1000);
    // all three dropped by the headers (one taken as a revision is dropped as malformed, the rest ignored)
    expect(await dropped(t3)).toBeGreaterThanOrEqual(droppedBefore + 3);
    expect(t3.agent?.log()).toContain("not from the bans bucket's stream");
    expect(await bansLast()).toBeGreaterThanOrEqual(last + 1);
    await reregister(registration.labels);
    // every agent holds what the bucket holds, as status says
    await s.fleet.waitInSync(60_000);
    expect(await s.banned(t1, attacker(1))).toBe(true);
  }, 300_000);

  it("a flood of such answers: a real detection is still shared within a second, and the agents' logs hardly grow", async () => {
    const linesBefore = [t2, t3].map((h) => dropLines(h).length);
    const droppedBefore = await dropped(t3);
    const rssBefore = await rss(t3);
    expect(rssBefore).toBeGreaterThan(0);
    let rssMax = rssBefore;
    let sent = 0;
    let flooding = true;
    const flood = (async () => {
      const until = Date.now() + 4000;
      while (flooding && Date.now() < until) {
        for (let i = 0; i < 500; i += 1) nc.publish(OWN_DESIRED, "", { reply: `${BANS_LIVE_PREFIX}x` });
        sent += 500;
        await nc.flush();
        if (sent % 10_000 === 0) rssMax = Math.max(rssMax, await rss(t3));
      }
    })();
    try {
      await waitFor("the flood reaching t3", async () => (await dropped(t3)) > droppedBefore + 1000, 30_000, 50);
      expect(await s.detect(t2, t3, attacker(2))).toBeLessThan(1000);
    } finally {
      await flood;
      flooding = false;
    }
    expect(sent).toBeGreaterThan(1000);
    // nothing of the flood is kept (the chart's limit is 256 Mi): at most some garbage not yet collected
    rssMax = Math.max(rssMax, await rss(t3));
    expect(rssMax - rssBefore).toBeLessThan(96 * 1024 * 1024);
    // at most a line per reason and 10 s, and their summaries
    for (const [i, h] of [t2, t3].entries()) {
      const added = dropLines(h).slice(linesBefore[i]);
      expect(added.join("\n").length).toBeLessThan(4096);
    }
    await s.fleet.waitInSync(60_000);
  }, 300_000);
});
