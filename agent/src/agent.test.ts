// The agent's control loop on the in-memory backend: commit-confirm, drift repair of both tables,
// and the rules for retrying a failed revision, in milliseconds and without root.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SCHEMA_VERSION, generateSigningKeyPem, loadSigningKey, signPayload, type DesiredState, type HostReport } from "@fleetwall/api";
import { Agent, type AgentBus } from "./agent.js";
import { BanSync } from "./bans.js";
import { Defender } from "./defender.js";
import { MemoryBackend } from "./memory-backend.js";
import { LOCAL_BANS, StateStore } from "./state-store.js";

const log = pino({ level: "silent" });
const key = loadSigningKey(generateSigningKeyPem().privatePem);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const policy = (name: string) => ({ name, mode: "enforce" as const, input: [], output: [], defaultInput: "drop" as const, defaultOutput: "accept" as const });
const state = (revision: number, names: string[]): DesiredState => ({
  schemaVersion: SCHEMA_VERSION,
  hostId: "h1",
  revision,
  hash: `hash-${names.join(",")}`,
  policies: names.map((name) => ({ name, generation: 1 })),
  ruleset: { baseline: { loopback: true, established: true, dropInvalid: true, badTcpFlags: true }, policies: names.map(policy), defaultInput: { verdict: "drop" }, defaultOutput: { verdict: "accept" } },
  jails: [],
});
const signed = (s: DesiredState) => JSON.stringify(signPayload(key, JSON.stringify(s)));

/** A bus whose round trips answer as `answers` says, given the ruleset in force. */
function fakeBus(answers: (backend: MemoryBackend) => boolean, backend: MemoryBackend): AgentBus & { reports: HostReport[] } {
  const reports: HostReport[] = [];
  return {
    reports,
    register: async () => undefined,
    watchDesired: async () => undefined,
    watchBans: async () => undefined,
    publishReport: (r) => void reports.push(r),
    publishSignal: async () => undefined,
    roundTrip: async () => answers(backend),
  };
}

async function makeAgent(answers: (b: MemoryBackend) => boolean = () => true) {
  const backend = new MemoryBackend();
  const dir = mkdtempSync(join(tmpdir(), "fleetwall-agent-test-"));
  dirs.push(dir);
  const bans = new BanSync(backend, log);
  const defender = new Defender(bans, "h1", {}, () => key.publicKeyPem, log);
  const agent = new Agent({ hostId: "h1", registration: { labels: {}, addresses: [], agentVersion: "t", nftVersion: "t" }, controllerKey: key.publicKeyPem, heartbeatMs: 1000, driftIntervalMs: 1000, confirmWindowMs: 10, now: () => new Date() }, backend, new StateStore(dir), log, defender);
  await agent.restore();
  const bus = fakeBus(answers, backend);
  const ac = new AbortController();
  await agent.run(bus, ac.signal);
  ac.abort();
  return { agent, backend, bus, bans, dir };
}

describe("Agent on the in-memory backend", () => {
  it("applies a state, and reports it applied", async () => {
    const { agent, backend, bus } = await makeAgent();
    await agent.onDesired(bus, signed(state(1, ["web"])));
    expect(backend.ruleset?.policies.map((p) => p.name)).toEqual(["web"]);
    expect(bus.reports.at(-1)).toMatchObject({ state: "Applied", appliedRevision: 1 });
  });

  it("one revision names one state: the applied revision with another hash is dropped, live or read back from the bucket; the same state again is accepted", async () => {
    const { agent, backend, bus } = await makeAgent();
    await agent.onDesired(bus, signed(state(3, ["web"])));
    await agent.onDesired(bus, signed(state(3, ["api"])));
    await agent.onDesired(bus, signed(state(3, ["api"])), true);
    expect(backend.ruleset?.policies.map((p) => p.name)).toEqual(["web"]);
    expect(agent.droppedMessages).toBe(2);
    // the same state again (a restart reads it back) is no news and no drop
    await agent.onDesired(bus, signed(state(3, ["web"])), true);
    await agent.onDesired(bus, signed(state(3, ["web"])));
    expect(agent.droppedMessages).toBe(2);
    // an older stored one is overtaken, not counted; a newer one applies
    await agent.onDesired(bus, signed(state(2, ["api"])), true);
    expect(agent.droppedMessages).toBe(2);
    await agent.onDesired(bus, signed(state(4, ["api"])));
    expect(backend.ruleset?.policies.map((p) => p.name)).toEqual(["api"]);
    expect(bus.reports.at(-1)).toMatchObject({ state: "Applied", appliedRevision: 4 });
  });

  it("rolls back a ruleset after which the bus does not answer, and does not try it again while the bus answers without it", async () => {
    // the bus answers unless policy "cut" is in force
    const { agent, backend, bus } = await makeAgent((b) => !b.ruleset?.policies.some((p) => p.name === "cut"));
    await agent.onDesired(bus, signed(state(1, ["web"])));
    await agent.onDesired(bus, signed(state(2, ["web", "cut"])));
    expect(backend.ruleset?.policies.map((p) => p.name)).toEqual(["web"]);
    expect(agent.rollbacks).toBe(1);
    expect(bus.reports.at(-1)).toMatchObject({ state: "Failed", appliedRevision: 1, error: expect.stringContaining("rolled back") });
    const applies = backend.applies;
    await agent.onDesired(bus, signed(state(3, ["web", "cut"])));
    expect(backend.applies).toBe(applies);
    // a different state is applied
    await agent.onDesired(bus, signed(state(4, ["web", "api"])));
    expect(backend.ruleset?.policies.map((p) => p.name)).toEqual(["web", "api"]);
    expect(bus.reports.at(-1)).toMatchObject({ state: "Applied", appliedRevision: 4 });
  });

  it("may try a rolled-back state again when the bus did not answer with the previous ruleset either", async () => {
    let up = false;
    const { agent, backend, bus } = await makeAgent(() => up);
    up = true;
    await agent.onDesired(bus, signed(state(1, ["web"])));
    up = false;
    await agent.onDesired(bus, signed(state(2, ["web", "api"])));
    expect(agent.rollbacks).toBe(1);
    up = true;
    await agent.onDesired(bus, signed(state(3, ["web", "api"])));
    expect(backend.ruleset?.policies.map((p) => p.name)).toEqual(["web", "api"]);
  });

  it("does not retry a hash nft refused, and applies the next one", async () => {
    const { agent, backend, bus } = await makeAgent();
    backend.refuseRulesets(true);
    await agent.onDesired(bus, signed(state(1, ["web"])));
    expect(bus.reports.at(-1)).toMatchObject({ state: "Failed", error: expect.stringContaining("refused") });
    backend.refuseRulesets(false);
    await agent.onDesired(bus, signed(state(2, ["web"])));
    expect(backend.applies).toBe(0);
    await agent.onDesired(bus, signed(state(3, ["api"])));
    expect(backend.ruleset?.policies.map((p) => p.name)).toEqual(["api"]);
  });

  it("repairs drift of the policy table and the loss of either table, and counts each repair", async () => {
    const { agent, backend, bus, bans } = await makeAgent();
    await agent.onDesired(bus, signed(state(1, ["web"])));
    await bans.synced();
    await bans.setLocal("sshd", "203.0.113.9", 600);
    expect(await agent.checkDrift(bus)).toBe(false);
    backend.drift();
    expect(await agent.checkDrift(bus)).toBe(true);
    backend.loseTable("policy");
    expect(await agent.checkDrift(bus)).toBe(true);
    expect(backend.ruleset?.policies.map((p) => p.name)).toEqual(["web"]);
    backend.loseTable("bans");
    await agent.checkDrift(bus);
    expect(backend.elements("local", "ip").has("203.0.113.9")).toBe(true);
    expect(agent.driftRepairs).toBe(3);
    expect(bus.reports.at(-1)).toMatchObject({ driftRepairs: 3 });
  });

  it("a small bans table is compared whole: an element deleted or added behind its back is repaired at the next check", async () => {
    const { agent, backend, bus, bans } = await makeAgent();
    await agent.onDesired(bus, signed(state(1, ["web"])));
    await bans.synced();
    await bans.setLocal("sshd", "203.0.113.9", 600);
    expect(await bans.checkDrift()).toBe(false);
    backend.handEdit("local", "ip", "203.0.113.9");
    expect(await bans.checkDrift()).toBe(true);
    expect(backend.elements("local", "ip").has("203.0.113.9")).toBe(true);
    // an element nothing asked for (a hand-made ban) is taken out too
    backend.handEdit("ban", "ip", "203.0.113.66", Date.now() + 600_000);
    expect(await bans.checkDrift()).toBe(true);
    expect(backend.elements("ban", "ip").has("203.0.113.66")).toBe(false);
    expect(await bans.checkDrift()).toBe(false);
  });

  it("keeps local bans across a restart, and reports them", async () => {
    const first = await makeAgent();
    await first.bans.setLocal("sshd", "203.0.113.10", 600);
    await first.bans.idle();
    // the save is written behind the ban
    await vi.waitFor(() => expect(readFileSync(join(first.dir, LOCAL_BANS), "utf8")).toContain("203.0.113.10"), { timeout: 10_000 });
    const backend = new MemoryBackend();
    const bans = new BanSync(backend, log);
    const agent = new Agent({ hostId: "h1", registration: { labels: {}, addresses: [], agentVersion: "t", nftVersion: "t" }, controllerKey: key.publicKeyPem, heartbeatMs: 1000, driftIntervalMs: 1000, confirmWindowMs: 10, now: () => new Date() }, backend, new StateStore(first.dir), log, new Defender(bans, "h1", {}, () => key.publicKeyPem, log));
    await agent.restore();
    await bans.idle();
    expect(backend.elements("local", "ip").has("203.0.113.10")).toBe(true);
    expect(agent.report().bans?.local).toEqual([expect.objectContaining({ jail: "sshd", address: "203.0.113.10" })]);
  });
});
