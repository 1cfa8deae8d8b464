import fc from "fast-check";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { pino } from "pino";
import { BanList, SCHEMA_VERSION, SEAL_KEY_PREFIX, generateSigningKeyPem, loadSigningKey, newDecision, parseBanDecision, parseCidr, type BanSignal, type SignedEnvelope } from "@fleetwall/api";
import type { ArbiterConfig } from "./arbiter.js";
import { BanKeeper } from "./ban-keeper.js";
import { hostAddressRule, nodeAddresses } from "./host-networks.js";
import type { BanSink } from "./ban-publisher.js";
import { SIGNAL_REFUSAL_CODES, signalsRefusedMetric, type SignalRefusalCode } from "./signal-refusals.js";

const key = loadSigningKey(generateSigningKeyPem().privatePem);
const config: ArbiterConfig = { minReporters: 2, reportWindowSeconds: 600, maxBanSeconds: 86_400, soloMaxBanSeconds: 3600, soloBudgetPerMinute: 3, minPrefix: { ip: 24, ip6: 64 }, protect: [] };
const silent = pino({ level: "silent" });

/**
 * A bucket that answers each put after a short while, numbers what it stores as a stream does and
 * hands it to the keeper as the bucket's watch would; it records how many puts were in flight at once.
 */
function bucket(keeper: () => BanKeeper, delay = true): BanSink & { stored: Map<string, SignedEnvelope>; maxInFlight: number; order: string[] } {
  let inFlight = 0;
  let revision = 0;
  const sink = {
    stored: new Map<string, SignedEnvelope>(),
    maxInFlight: 0,
    order: [] as string[],
    async putBan(k: string, envelope: SignedEnvelope) {
      inFlight += 1;
      sink.maxInFlight = Math.max(sink.maxInFlight, inFlight);
      sink.order.push(k);
      if (delay) await new Promise((r) => setTimeout(r, 1 + (sink.order.length % 3)));
      sink.stored.set(k, envelope);
      inFlight -= 1;
      const rev = ++revision;
      // the watch delivers a little later
      setImmediate(() => {
        if (k.startsWith(SEAL_KEY_PREFIX)) keeper().onSeal(k.slice(SEAL_KEY_PREFIX.length), true, rev);
        else keeper().onEntry(k, parseBanDecision(envelope.payload) ?? null, envelope.seal, rev);
      });
      return rev;
    },
    async deleteBan(k: string) {
      sink.stored.delete(k);
      const rev = ++revision;
      setImmediate(() => (k.startsWith(SEAL_KEY_PREFIX) ? keeper().onSeal(k.slice(SEAL_KEY_PREFIX.length), false, rev) : keeper().onEntry(k, null, undefined, rev)));
      return rev;
    },
  };
  return sink;
}

function keeperWithBucket(delay = true, now = () => Date.parse("2026-11-27T12:00:00Z")) {
  let keeper: BanKeeper | undefined;
  const sink = bucket(() => keeper as BanKeeper, delay);
  keeper = new BanKeeper(sink, key, config, silent, now);
  keeper.setJails(new Map([["h1", ["sshd"]], ["h2", ["sshd"]]]));
  return { keeper, sink };
}

/** The refusal counts that are not zero (every code is always present). */
const counted = (keeper: BanKeeper) => Object.fromEntries(Object.entries(keeper.skipped).filter(([, n]) => n > 0));

const signal = (hostId: string, address: string): BanSignal => ({ schemaVersion: SCHEMA_VERSION, hostId, jail: "sshd", address, failures: 5, at: "2026-11-27T12:00:00Z", banSeconds: 86_400 });

describe("BanKeeper bulk imports", () => {
  it("publishes every entry of concurrent imports, each seal before its decisions, with a bounded number of puts in flight", async () => {
    const { keeper, sink } = keeperWithBucket();
    const addr = (list: number, i: number) => `2001:db8:${list}::${i.toString(16)}`;
    const replies = await Promise.all(
      Array.from({ length: 6 }, (_, list) => keeper.import({ list: `l${list}`, durationSeconds: 3600, reason: "", entries: Array.from({ length: 2000 }, (_, i) => addr(list + 1, i)) })),
    );
    expect(replies.map((r) => r.published)).toEqual([2000, 2000, 2000, 2000, 2000, 2000]);
    const decisions = [...sink.stored.keys()].filter((k) => !k.startsWith(SEAL_KEY_PREFIX));
    expect(decisions).toHaveLength(12_000);
    expect(sink.maxInFlight).toBeGreaterThan(256); // bursts, not one at a time
    expect(sink.maxInFlight).toBeLessThanOrEqual(4096);
    // each decision names a seal that was written before it
    for (const k of decisions) {
      const seal = sink.stored.get(k)?.seal as string;
      expect(sink.order.indexOf(`${SEAL_KEY_PREFIX}${seal}`)).toBeLessThan(sink.order.indexOf(k));
    }
    // and the mirror has seen all of it by the time the imports answered
    expect(keeper.decisionsByKey.size).toBe(12_000);
  });
});

describe("BanKeeper arbitration", () => {
  it("one reporter causes at most its budget of fleet bans a minute, each an hour; the rest stay local and are counted", async () => {
    const { keeper, sink } = keeperWithBucket(false);
    for (let i = 1; i <= 5; i += 1) await keeper.onSignal(signal("h1", `203.0.113.${i}`));
    expect([...sink.stored.keys()].sort()).toEqual(["jail-sshd.203.0.113.1", "jail-sshd.203.0.113.2", "jail-sshd.203.0.113.3"]);
    const ban = parseBanDecision((sink.stored.get("jail-sshd.203.0.113.1") as SignedEnvelope).payload);
    expect(ban?.expiresAt).toBe("2026-11-27T13:00:00.000Z");
    expect(ban?.issuedAt).toBe("2026-11-27T12:00:00.000Z");
    expect(counted(keeper)).toEqual({ "over-budget": 2 });
    // a second host confirms one of them: a quorum, for the jail's full (capped) time
    await keeper.onSignal(signal("h2", "203.0.113.5"));
    expect(parseBanDecision((sink.stored.get("jail-sshd.203.0.113.5") as SignedEnvelope).payload)).toMatchObject({ origins: ["h1", "h2"], expiresAt: "2026-11-28T12:00:00.000Z" });
  });

  it("counts the budget over the last 60 s, not per clock minute: a burst across a minute's end gets it once", async () => {
    let now = Date.parse("2026-11-27T12:00:59.500Z");
    const { keeper, sink } = keeperWithBucket(false, () => now);
    const at = (address: string) => ({ ...signal("h1", address), at: new Date(now).toISOString() });
    for (let i = 1; i <= 3; i += 1) await keeper.onSignal(at(`203.0.113.${i}`));
    now += 1000; // 12:01:00.5, a new clock minute
    for (let i = 4; i <= 6; i += 1) await keeper.onSignal(at(`203.0.113.${i}`));
    expect(sink.stored.size).toBe(config.soloBudgetPerMinute);
    expect(counted(keeper)).toEqual({ "over-budget": 3 });
    now = Date.parse("2026-11-27T12:01:59.500Z"); // the first three are 60 s old
    await keeper.onSignal(at("203.0.113.7"));
    expect(sink.stored.has("jail-sshd.203.0.113.7")).toBe(true);
  });

  it("a second host's report within the window upgrades a solo ban to the quorum's (reports are kept after a ban)", async () => {
    const { keeper, sink } = keeperWithBucket(false);
    await keeper.onSignal(signal("h1", "203.0.113.226"));
    expect(parseBanDecision((sink.stored.get("jail-sshd.203.0.113.226") as SignedEnvelope).payload)).toMatchObject({ origins: ["h1"], expiresAt: "2026-11-27T13:00:00.000Z" });
    await keeper.onSignal(signal("h2", "203.0.113.226"));
    expect(parseBanDecision((sink.stored.get("jail-sshd.203.0.113.226") as SignedEnvelope).payload)).toMatchObject({ origins: ["h1", "h2"], expiresAt: "2026-11-28T12:00:00.000Z" });
  });

  it("a solo report never shortens a ban in force", async () => {
    let now = Date.parse("2026-11-27T12:00:00Z");
    const { keeper, sink } = keeperWithBucket(false, () => now);
    await keeper.onSignal(signal("h1", "203.0.113.227"));
    await keeper.onSignal(signal("h2", "203.0.113.227"));
    await new Promise((r) => setImmediate(r));
    // past the report window, h1 alone reports again: the quorum's day holds, not an hour
    now += 700_000;
    await keeper.onSignal({ ...signal("h1", "203.0.113.227"), at: new Date(now).toISOString() });
    expect(parseBanDecision((sink.stored.get("jail-sshd.203.0.113.227") as SignedEnvelope).payload)).toMatchObject({ origins: ["h1", "h2"], expiresAt: "2026-11-28T12:00:00.000Z" });
    expect(counted(keeper)).toEqual({ "banned-longer": 1 });
  });

  it("charges one budget unit per decision: one address under many jails costs one unit per jail; jails its host does not run are refused", async () => {
    const { keeper, sink } = keeperWithBucket(false);
    const jails = Array.from({ length: 40 }, (_, i) => `j${i}`);
    for (const jail of jails) await keeper.onSignal({ ...signal("h1", "203.0.113.240"), jail });
    expect(sink.stored.size).toBe(0);
    expect(counted(keeper)).toEqual({ "jail-not-run": 40 });
    // a host registered since the last compile: its signal waits (is redelivered), it is not refused
    keeper.setHost("h3", { addresses: ["198.18.0.13"] });
    await expect(keeper.onSignal({ ...signal("h3", "203.0.113.240") })).rejects.toThrow(/not compiled yet/);
    keeper.setJails(new Map([["h1", jails]]));
    for (const jail of jails) await keeper.onSignal({ ...signal("h1", "203.0.113.240"), jail });
    expect(sink.stored.size).toBe(config.soloBudgetPerMinute);
    expect(counted(keeper)).toEqual({ "jail-not-run": 40, "over-budget": 40 - config.soloBudgetPerMinute });
    // IPv6: addresses of one /64 in one jail still share a unit (16 of them)
    keeper.setJails(new Map([["h2", ["sshd"]]]));
    for (let i = 1; i <= 20; i += 1) await keeper.onSignal(signal("h2", `2001:db8:7::${i.toString(16)}`));
    expect([...sink.stored.keys()].filter((k) => k.startsWith("jail-sshd.2001"))).toHaveLength(20);
  });

  it("never bans a registered host's address, and takes no network as a host's own", async () => {
    const { keeper, sink } = keeperWithBucket(false);
    keeper.setHost("h1", { addresses: ["198.18.0.11", "0.0.0.0/0", "::/0"], managementSources: ["0.0.0.0/1", "198.51.100.0/24"] });
    expect(keeper.protection.refusedClaims).toBe(3);
    await keeper.onSignal(signal("h2", "198.18.0.11"));
    await keeper.onSignal(signal("h2", "198.51.100.7"));
    await keeper.onSignal(signal("h2", "203.0.113.9"));
    expect([...sink.stored.keys()]).toEqual(["jail-sshd.203.0.113.9"]);
    // an operator may still ban what is not a host: no registration made every address "a fleet host"
    expect(await keeper.add({ cidr: "203.0.113.0/24", durationSeconds: null, reason: "" })).toMatchObject({ ok: true });
    expect(await keeper.add({ cidr: "198.18.0.11", durationSeconds: null, reason: "" })).toMatchObject({ ok: false, error: "198.18.0.11 is not banned: a fleet host (registered by h1)" });
  });

  it("reads its own writes: a ban added can be deleted at once", async () => {
    const { keeper } = keeperWithBucket();
    await keeper.add({ cidr: "203.0.113.4", durationSeconds: 60, reason: "" });
    expect(await keeper.delete("203.0.113.4")).toEqual({ ok: true, keys: ["cli.203.0.113.4"] });
    expect(keeper.decisionsByKey.size).toBe(0);
  });
});

describe("BanList reconciler", () => {
  const list = (name: string, entries: unknown[]) => BanList.parse({ apiVersion: "fleetwall.io/v1alpha1", kind: "BanList", metadata: { name }, spec: { entries } });

  it("records per list what was refused and why", async () => {
    const { keeper, sink } = keeperWithBucket(false);
    keeper.setHost("h1", { addresses: ["198.18.0.11"], managementSources: [] });
    keeper.setBanLists([list("bad", [{ cidr: "198.18.0.11" }, { cidr: "203.0.113.1" }]), list("good", [{ cidr: "203.0.113.2" }])]);
    await keeper.syncBanLists();
    expect([...sink.stored.keys()].sort()).toEqual(["bad.203.0.113.1", "good.203.0.113.2"]);
    expect(keeper.banLists.outcomes.get("bad")).toEqual({ refused: [{ list: "bad", cidr: "198.18.0.11", reason: "a fleet host (registered by h1)" }] });
    expect(keeper.banLists.outcomes.get("good")).toEqual({ refused: [] });
  });
});

describe("BanKeeper durations", () => {
  it.each([
    ["add", (k: BanKeeper, s: number | null) => k.add({ cidr: "203.0.113.9", durationSeconds: s, reason: "" })],
    ["import", (k: BanKeeper, s: number | null) => k.import({ list: "l", durationSeconds: s, reason: "", entries: ["203.0.113.9"] })],
  ])("%s refuses a ban longer than --max-ban, names both, and publishes nothing", async (_, call) => {
    const { keeper, sink } = keeperWithBucket(false);
    const reply = await call(keeper, 400 * 86_400);
    expect(reply).toMatchObject({ ok: false, error: "a ban of 400d is longer than the controller allows (--max-ban 1d)" });
    expect(sink.stored.size).toBe(0);
    expect(await call(keeper, 86_400)).toMatchObject({ ok: true });
    expect(await call(keeper, null)).toMatchObject({ ok: true });
  });
});

describe("BanList reconciler failures", () => {
  const list = (name: string, entries: unknown[]) => BanList.parse({ apiVersion: "fleetwall.io/v1alpha1", kind: "BanList", metadata: { name }, spec: { entries } });

  it("says which lists a failed publish touched, and tries again", async () => {
    let fail = true;
    const sink: BanSink = {
      async putBan() {
        if (fail) throw new Error("publish refused: maximum bytes exceeded");
        return undefined;
      },
      async deleteBan() {
        return undefined;
      },
    };
    const keeper = new BanKeeper(sink, key, config, silent);
    keeper.setBanLists([list("big", [{ cidr: "203.0.113.1" }]), list("empty", [])]);
    await expect(keeper.syncBanLists()).rejects.toThrow(/maximum bytes/);
    expect(keeper.banLists.outcomes.get("big")).toEqual({ refused: [], error: "publish refused: maximum bytes exceeded" });
    expect(keeper.banLists.outcomes.get("empty")).toEqual({ refused: [] });
    fail = false;
    const ac = new AbortController();
    const run = keeper.banLists.run(ac.signal);
    // the loop's first pass publishes: wait for it (polling, no fixed sleep as an assertion)
    for (let i = 0; i < 500 && keeper.banLists.outcomes.get("big")?.error; i += 1) await new Promise((r) => setTimeout(r, 10));
    expect(keeper.banLists.outcomes.get("big")).toEqual({ refused: [] });
    ac.abort();
    await run;
  });
});

describe("BanKeeper logging", () => {
  it("logs a flood of refused signals once per reason per interval; the metric counts each", async () => {
    const lines: { msg: string; reason?: string; suppressed?: number }[] = [];
    const log = pino({ level: "info" }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    let now = Date.parse("2026-11-27T12:00:00Z");
    let keeper: BanKeeper | undefined;
    keeper = new BanKeeper(bucket(() => keeper as BanKeeper, false), key, config, log, () => now);
    keeper.setHost("h1", { addresses: ["198.18.0.11"] });
    keeper.setJails(new Map([["h2", ["sshd"]]]));
    for (let i = 0; i < 500; i += 1) await keeper.onSignal(signal("h2", "198.18.0.11"));
    for (let i = 0; i < 500; i += 1) await keeper.onSignal(signal("h2", `203.0.113.${i % 200}/16`));
    expect(keeper.skippedSignals).toBe(1000);
    const refused = lines.filter((l) => l.msg === "signal not turned into a fleet ban");
    expect(refused.map((l) => l.reason)).toEqual(["a fleet host", expect.stringMatching(/broader than the minimum/)]);
    now += 10_000;
    const controller = new AbortController();
    controller.abort();
    await keeper.run(controller.signal);
    const summaries = lines.filter((l) => l.msg.startsWith("signals not turned into a fleet ban"));
    expect(summaries.map((l) => [l.reason, l.suppressed])).toEqual([["fleet-host h2", 499], ["prefix-too-broad h2", 499]]);
  });
});

describe("BanKeeper registrations", () => {
  it("logs a host's refused addresses once, again when they change, not at every re-registration", () => {
    const lines: { msg: string; host?: string; refused?: string[] }[] = [];
    const log = pino({ level: "info" }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    let now = Date.parse("2026-11-27T12:00:00Z");
    const keeper: BanKeeper = new BanKeeper(bucket((): BanKeeper => keeper, false), key, { ...config, hostAddresses: hostAddressRule(["198.18.0.0/24"]) }, log, () => now);
    const said = () => lines.filter((l) => l.msg === "registration claims refused").map((l) => l.refused);
    for (let i = 0; i < 5; i += 1) {
      keeper.setHost("h1", { addresses: ["198.18.0.11", "203.0.113.7"] });
      now += 60_000;
    }
    expect(said()).toEqual([["address 203.0.113.7: outside the host networks (--host-networks): not protected"]]);
    keeper.setHost("h1", { addresses: ["198.18.0.11", "203.0.113.8"] });
    expect(said()).toHaveLength(2);
    // honest again, then the same claim as before: said again
    keeper.setHost("h1", { addresses: ["198.18.0.11"] });
    now += 60_000;
    keeper.setHost("h1", { addresses: ["198.18.0.11", "203.0.113.8"] });
    expect(said()).toHaveLength(3);
    expect(keeper.protection.check(parseCidr("203.0.113.8"))).toBeUndefined();
  });
});

describe("BanKeeper and Nodes", () => {
  it("publishes the protection list again when a Node changes what its host owns, not at each of its status updates", () => {
    const { keeper } = keeperWithBucket(false);
    let changes = 0;
    keeper.onProtectionChange = () => void (changes += 1);
    keeper.setHost("web-1", { addresses: ["198.18.0.11", "198.18.0.99"] });
    expect(changes).toBe(1);
    const node = () => nodeAddresses("web.1", [{ type: "InternalIP", address: "198.18.0.11" }]);
    keeper.setNode("web-1", node());
    expect(changes).toBe(2);
    expect(keeper.protection.check(parseCidr("198.18.0.99"))).toBeUndefined();
    for (let i = 0; i < 10; i += 1) keeper.setNode("web-1", node());
    keeper.setNode("web-9", nodeAddresses("web-9", [{ type: "InternalIP", address: "198.18.0.19" }]));
    expect(changes).toBe(2);
  });
});

describe("fleetwall_controller_signals_refused", () => {
  /** A keeper whose hosts, allowlist and control plane make each refusal reachable. */
  async function fleet() {
    const { keeper, sink } = keeperWithBucket(false);
    keeper.setJails(new Map([["h1", ["sshd", "x y"]], ["h2", ["sshd"]]]));
    keeper.setHost("h1", { addresses: ["198.18.0.11"], managementSources: ["198.51.100.0/24"] });
    keeper.setResolved([parseCidr("198.18.0.1")]);
    keeper.onEntry("allow-office.203.0.113.128_25", newDecision({ list: "allow-office", type: "Allow", cidr: "203.0.113.128/25", createdAtMs: Date.parse("2026-11-27T12:00:00Z"), expiresAtMs: null, source: "BanList" }));
    return { keeper, sink };
  }

  /** The metric's series as Prometheus scrapes them: reason label → value. */
  async function scrape(keeper: BanKeeper): Promise<Record<string, number>> {
    const registry = new Registry();
    signalsRefusedMetric(registry, () => keeper.skipped);
    const [metric] = await registry.getMetricsAsJSON();
    return Object.fromEntries((metric?.values ?? []).map((v) => [String(v.labels.reason), v.value]));
  }

  it.each<[SignalRefusalCode, string, string, string]>([
    ["jail-not-run", "h2", "nginx", "203.0.113.7"],
    ["key-unstorable", "h1", "x y", "203.0.113.7"],
    ["not-an-address", "h1", "sshd", "a from 203.0.113.9 port 22 ssh2: b"],
    ["prefix-too-broad", "h1", "sshd", "203.0.0.0/8"],
    ["special-address", "h1", "sshd", "127.0.0.1"],
    ["allowlisted", "h1", "sshd", "203.0.113.200"],
    ["fleet-host", "h2", "sshd", "198.18.0.11"],
    ["control-plane", "h1", "sshd", "198.18.0.1"],
    ["management-network", "h2", "sshd", "198.51.100.9"],
    ["needs-quorum", "h1", "sshd", "203.0.113.0/26"],
  ])("counts a signal refused as %s under that label alone", async (code, host, jail, address) => {
    const { keeper, sink } = await fleet();
    await keeper.onSignal({ ...signal(host, address), jail });
    expect(sink.stored.size).toBe(0);
    const series = await scrape(keeper);
    expect(Object.keys(series).sort()).toEqual([...SIGNAL_REFUSAL_CODES].sort());
    expect(Object.entries(series).filter(([, n]) => n > 0)).toEqual([[code, 1]]);
  });

  it("counts over-budget and banned-longer under their labels", async () => {
    const { keeper } = await fleet();
    for (let i = 1; i <= config.soloBudgetPerMinute + 2; i += 1) await keeper.onSignal(signal("h1", `203.0.113.${i}`));
    await new Promise((r) => setImmediate(r));
    await keeper.onSignal(signal("h2", "203.0.113.1"));
    await new Promise((r) => setImmediate(r));
    await keeper.onSignal(signal("h2", "203.0.113.1"));
    expect(await scrape(keeper)).toMatchObject({ "over-budget": 2, "banned-longer": 1 });
  });

  it("has one series per code, whatever text the signals carry (the label is never from the wire)", async () => {
    const { keeper } = await fleet();
    const text = fc.string({ minLength: 1, maxLength: 40 });
    const address = fc.oneof(text, fc.ipV4().map((a) => `${a}/${a.length % 33}`), fc.ipV4(), fc.ipV6(), fc.constantFrom("198.18.0.11", "127.0.0.1", "0.0.0.0/0", "fe80::1"));
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("h1", "h2"), fc.oneof(text, fc.constantFrom("sshd", "x y")), address, async (host, jail, addr) => {
        sent += 1;
        await keeper.onSignal({ ...signal(host, addr), jail }).catch(() => undefined);
      }),
      { numRuns: 300 },
    );
    const series = await scrape(keeper);
    expect(Object.keys(series).sort()).toEqual([...SIGNAL_REFUSAL_CODES].sort());
    // most were refused, under several reasons
    expect(keeper.skippedSignals).toBeGreaterThan(sent / 2);
    expect(Object.values(series).filter((n) => n > 0).length).toBeGreaterThanOrEqual(4);
    expect(Object.values(series).reduce((a, b) => a + b, 0)).toBe(keeper.skippedSignals);
  });
});
