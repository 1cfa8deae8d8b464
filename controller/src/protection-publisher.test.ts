import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { jetstreamManager } from "@nats-io/jetstream";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
// the agent's side, as it takes the list: the pure verification and the shield over a memory backend
import { BanSync } from "../../agent/src/bans.js";
import { FleetShield, verifyProtection } from "../../agent/src/fleet-shield.js";
import { MemoryBackend } from "../../agent/src/memory-backend.js";
import { StateStore } from "../../agent/src/state-store.js";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FleetProtection, MAX_FLEET_PROTECTED, envelopeText, signPayload, PROTECTION_BUCKET, PROTECTION_KEY, generateSigningKeyPem, loadSigningKey, parseCidr, parseEnvelopeText, verifyEnvelope } from "@fleetwall/api";
import { loopbackNats } from "../../test/harness/loopback-nats.js";
import { waitFor } from "../../test/harness/sh.js";
import { BanMirror } from "./ban-mirror.js";
import { Protection } from "./protection.js";
import { ProtectionPublisher, fitEntries, nextRevision } from "./protection-publisher.js";
import { StreamSettings } from "./stream-settings.js";

const pem = generateSigningKeyPem();
const key = loadSigningKey(pem.privatePem);
const silent = pino({ level: "silent" });

describe("the fleet's protection entries", () => {
  it("control plane first, then hosts' addresses, each once; no management networks (operators may ban those)", () => {
    const p = new Protection({ minPrefix: { ip: 16, ip6: 48 }, protect: [parseCidr("198.18.0.1")] }, new BanMirror());
    p.setHost("h2", { addresses: ["198.18.0.12", "0.0.0.0/0"], managementSources: ["203.0.113.0/28", "10.0.0.0/8"] });
    p.setHost("h1", { addresses: ["198.18.0.11", "198.18.0.1"] });
    p.setResolved([parseCidr("198.18.0.2")]);
    expect(p.fleetEntries()).toEqual(["198.18.0.1", "198.18.0.2", "198.18.0.11", "198.18.0.12"]);
    p.setHost("h1", null);
    expect(p.fleetEntries()).not.toContain("198.18.0.11");
  });

  it("fits the count and the message size, leaving out the last ones", () => {
    const many = Array.from({ length: MAX_FLEET_PROTECTED + 10 }, (_, i) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    expect(fitEntries(many, 10_000_000, (e) => e.join()).leftOut).toBe(10);
    const fit = fitEntries(many, 1000, (e) => JSON.stringify(e));
    expect(JSON.stringify(fit.entries).length).toBeLessThanOrEqual(1000);
    expect(fit.entries.length + fit.leftOut).toBe(many.length);
    expect(fit.entries).toContain("10.0.0.0");
  });
});

describe("ProtectionPublisher on a real nats-server", () => {
  const nats = loopbackNats("protection-publisher");
  let nc: NatsConnection;
  beforeAll(async () => {
    nc = await connect({ servers: nats.server.url });
  });
  afterAll(async () => {
    await nc?.close();
  });

  const stored = async () => {
    const e = await (await new Kvm(nc).open(PROTECTION_BUCKET)).get(PROTECTION_KEY);
    const env = parseEnvelopeText(e?.string() ?? "");
    if (!env.success) throw new Error("no envelope");
    expect(verifyEnvelope(env.data, pem.publicPem)).toBe(true);
    return FleetProtection.parse(JSON.parse(env.data.payload));
  };

  it("publishes a signed list, again only on change and coalesced, with revisions that continue across restarts", async () => {
    let entries = ["198.18.0.12", "198.18.0.11"];
    // a clock that stands still: revisions grow by one from it
    const opts = { replicas: 1, log: silent, settings: new StreamSettings(), debounceMs: 20, now: () => 1 };
    const first = new ProtectionPublisher(nc, key, () => entries, opts);
    const run = new AbortController();
    const running = first.run(run.signal);
    await waitFor("the first list", () => first.published === 1, 10_000, 20);
    expect(await stored()).toMatchObject({ revision: 1, entries: ["198.18.0.11", "198.18.0.12"] });
    // a burst of registrations is one list
    for (let i = 13; i < 40; i += 1) {
      entries = [...entries, `198.18.0.${i}`];
      first.kick();
    }
    await waitFor("the burst published", async () => (await stored()).entries.length === 29, 10_000, 20);
    expect(first.published).toBe(2);
    // nothing changed: nothing published
    first.kick();
    await new Promise((r) => setTimeout(r, 200));
    expect(first.published).toBe(2);
    run.abort();
    await running;

    // a new controller continues the revisions, and publishes nothing while the list is the same
    const second = new ProtectionPublisher(nc, key, () => entries, opts);
    const run2 = new AbortController();
    const running2 = second.run(run2.signal);
    await waitFor("the second publisher reads the stored list", () => second.entries === 29, 10_000, 20);
    expect(second.published).toBe(0);
    entries = entries.slice(1);
    second.kick();
    await waitFor("a host removed", async () => (await stored()).revision === 3, 10_000, 20);
    expect((await stored()).entries).not.toContain("198.18.0.12");
    run2.abort();
    await running2;
  });

  it("another writer's put (an older list put back, a second controller's) is published over with a revision above both", async () => {
    const entries = ["198.18.0.21"];
    const publisher = new ProtectionPublisher(nc, key, () => entries, { replicas: 1, log: silent, settings: new StreamSettings(), debounceMs: 20, now: () => 1 });
    const run = new AbortController();
    const running = publisher.run(run.signal);
    try {
      await waitFor("published", async () => (await stored()).entries.join() === "198.18.0.21", 10_000, 20);
      const kv = await new Kvm(nc).open(PROTECTION_BUCKET);
      const mine = (await kv.get(PROTECTION_KEY))?.string() as string;
      const revision = (await stored()).revision;
      // a second controller with the same key published a later revision with other entries
      const theirs = envelopeText(signPayload(key, JSON.stringify({ schemaVersion: 1, revision: revision + 5, issuedAt: new Date().toISOString(), entries: ["203.0.113.1"] })));
      await kv.put(PROTECTION_KEY, theirs);
      await waitFor("published over", async () => (await stored()).entries.join() === "198.18.0.21", 10_000, 20);
      expect((await stored()).revision).toBe(revision + 6);
      expect(publisher.overwritten).toBe(1);
      // the old list put back is published over too
      await kv.put(PROTECTION_KEY, mine);
      await waitFor("published over again", async () => (await stored()).revision === revision + 7, 10_000, 20);
      expect(publisher.overwritten).toBe(2);
    } finally {
      run.abort();
      await running;
    }
  });

  it("a lost bucket (the stream deleted) does not restart revisions at 1: agents take the new list, and still refuse an old one put back", async () => {
    const agentDir = mkdtempSync(join(tmpdir(), "protection-lost-"));
    const jsm = await jetstreamManager(nc);
    const backend = new MemoryBackend();
    const bans = new BanSync(backend, silent);
    await bans.ensureTable();
    await bans.synced();
    const shield = new FleetShield(bans, new StateStore(agentDir), () => pem.publicPem, silent);
    const takeStored = async () => shield.onValue(new TextEncoder().encode((await (await new Kvm(nc).open(PROTECTION_BUCKET)).get(PROTECTION_KEY))?.string() ?? ""), false);
    let entries = ["198.18.0.31"];
    // the real clock: revisions come from it
    const opts = { replicas: 1, log: silent, settings: new StreamSettings(), debounceMs: 20, checkMs: 100 };
    const first = new ProtectionPublisher(nc, key, () => entries, opts);
    const run = new AbortController();
    const running = first.run(run.signal);
    let running2: Promise<void> | undefined;
    const run2 = new AbortController();
    try {
      await waitFor("the first list", async () => (await stored()).entries.join() === "198.18.0.31", 10_000, 20);
      const old = (await (await new Kvm(nc).open(PROTECTION_BUCKET)).get(PROTECTION_KEY))?.string() as string;
      entries = ["198.18.0.31", "198.18.0.32"];
      first.kick();
      await waitFor("the second list", async () => (await stored()).entries.length === 2, 10_000, 20);
      await takeStored();
      const held = shield.revision;
      expect(held).toBeGreaterThan(Date.now() - 60_000);
      expect(bans.allowed("198.18.0.32")).toBe(true);
      run.abort();
      await running;

      // the bucket is lost while no controller runs; the next one makes it again, above what agents hold
      await jsm.streams.delete(`KV_${PROTECTION_BUCKET}`);
      entries = ["198.18.0.31", "198.18.0.33"];
      const second = new ProtectionPublisher(nc, key, () => entries, opts);
      running2 = second.run(run2.signal);
      await waitFor("the list in a new bucket", async () => (await stored().catch(() => undefined))?.entries.join() === "198.18.0.31,198.18.0.33", 10_000, 20);
      expect((await stored()).revision).toBeGreaterThan(held);
      await takeStored();
      expect(shield.dropped).toBe(0);
      expect(bans.allowed("198.18.0.33")).toBe(true);
      expect(bans.allowed("198.18.0.32")).toBe(false);

      // the bucket is lost under a running controller: noticed by reading it back, made again, published again
      const before = shield.revision;
      await jsm.streams.delete(`KV_${PROTECTION_BUCKET}`);
      await waitFor("the list published again", async () => ((await stored().catch(() => undefined))?.revision ?? 0) > before, 10_000, 20);
      expect(second.lost).toBe(1);
      // the same entries: accepted (not refused as a replay), the newer revision held
      const again = (await (await new Kvm(nc).open(PROTECTION_BUCKET)).get(PROTECTION_KEY))?.string() as string;
      expect(verifyProtection(again, pem.publicPem, { revision: before })).toMatchObject({ ok: true });
      await takeStored();
      expect(shield.revision).toBeGreaterThan(before);
      expect(shield.dropped).toBe(0);

      // a genuinely old list put back is refused by the agent (and published over by the controller)
      await shield.onValue(new TextEncoder().encode(old), false);
      expect(shield.dropped).toBe(1);
      expect(bans.allowed("198.18.0.33")).toBe(true);
      const kv = await new Kvm(nc).open(PROTECTION_BUCKET);
      await kv.put(PROTECTION_KEY, old);
      await waitFor("the old list published over", async () => (await stored()).entries.join() === "198.18.0.31,198.18.0.33", 10_000, 20);
      expect(second.overwritten).toBe(1);
    } finally {
      run.abort();
      run2.abort();
      await running;
      await running2;
      rmSync(agentDir, { recursive: true, force: true });
    }
  });
});

describe("ProtectionPublisher after a failover on a real nats-server", () => {
  const nats = loopbackNats("protection-failover");
  let nc: NatsConnection;
  beforeAll(async () => {
    nc = await connect({ servers: nats.server.url });
  });
  afterAll(async () => {
    await nc?.close();
  });

  it("a new leader whose clock is an hour behind continues above the stored revision: agents take its list", async () => {
    const dir = mkdtempSync(join(tmpdir(), "protection-failover-"));
    const bans = new BanSync(new MemoryBackend(), silent);
    await bans.ensureTable();
    await bans.synced();
    const shield = new FleetShield(bans, new StateStore(dir), () => pem.publicPem, silent);
    /** The agent takes what the bucket holds, once there is something. */
    const take = async (size: number) => {
      const text = (await (await new Kvm(nc).open(PROTECTION_BUCKET)).get(PROTECTION_KEY).catch(() => null))?.string();
      if (text) await shield.onValue(new TextEncoder().encode(text), false);
      return shield.size === size;
    };
    const opts = { replicas: 1, log: silent, settings: new StreamSettings(), debounceMs: 20 };
    const run = async (entries: string[], now: () => number, until: () => Promise<boolean>) => {
      const p = new ProtectionPublisher(nc, key, () => entries, { ...opts, now });
      const ac = new AbortController();
      const running = p.run(ac.signal);
      try {
        await waitFor("published", until, 10_000, 20);
      } finally {
        ac.abort();
        await running;
      }
    };
    try {
      await run(["198.18.0.41"], Date.now, () => take(1));
      const held = shield.revision;
      await run(["198.18.0.41", "198.18.0.42"], () => Date.now() - 3600_000, () => take(2));
      expect(shield.revision).toBe(held + 1);
      expect(shield.dropped).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("nextRevision", () => {
  it.each([
    [0, 1_000, 1_000],
    [5, 1_000, 1_000],
    // a clock behind the last revision (another replica's, ahead) still goes up by one
    [2_000, 1_000, 2_001],
    [1_000, 1_000, 1_001],
  ])("after %d at %d ms: %d", (last, now, want) => expect(nextRevision(last, now)).toBe(want));
});
