import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { pino } from "pino";
import { banKey, generateSigningKeyPem, parseCidr, loadSigningKey, sealKey, sealPayloads, signPayload, type BanSignal, type JailIR } from "@fleetwall/api";
import { BanSync, elementOfKey } from "./bans.js";
import { bansTableScript } from "./bans-render.js";
import { Defender } from "./defender.js";
import { SelfProtection } from "./self-protect.js";
import { nftBinary } from "./nft.js";
import { NftBackend } from "./enforcer.js";

const NO_FAILSAFE = { sshPorts: [], sshSources: { ip: [], ip6: [] }, nats: [], dhcp: false };
/** Past the first read of the bucket: decisions go to the kernel as they come. */
async function synced(bans: BanSync): Promise<BanSync> {
  await bans.synced();
  return bans;
}

const NS = `fwdef${process.pid}`;
const nft = nftBinary({ prefix: ["ip", "netns", "exec", NS] });
const key = loadSigningKey(generateSigningKeyPem().privatePem);
const other = loadSigningKey(generateSigningKeyPem().privatePem);
const enc = new TextEncoder();
const decision = (cidr: string, type = "Deny") => JSON.stringify({ schemaVersion: 1, list: "l", type, cidr, createdAt: "2026-11-27T00:00:00Z", expiresAt: null, source: "cli" });
const inKernel = (set: string, el: string) => nft.run(["get", "element", "inet", "fleetwall_bans", set, `{ ${el} }`]).then(() => true, () => false);

beforeAll(async () => {
  execFileSync("ip", ["netns", "add", NS]);
  await nft.run(["-f", "-"], bansTableScript());
});
afterAll(() => {
  nft.close?.(); // the long-lived nft the bans went through
  execFileSync("ip", ["netns", "del", NS]);
});

describe("Defender: decisions from the bans bucket into the kernel", () => {
  it("enforces signed and sealed decisions, drops forged ones, and lets go of a seal once used", async () => {
    const log = pino({ level: "silent" });
    const bans = await synced(new BanSync(new NftBackend(nft, NO_FAILSAFE), log));
    const d = new Defender(bans, "h", {}, () => key.publicKeyPem, log);
    d.onDecisionEntry("l.1", enc.encode(JSON.stringify(signPayload(key, decision("203.0.113.1")))));
    d.onDecisionEntry("l.2", enc.encode(JSON.stringify(signPayload(other, decision("203.0.113.2")))));
    const { seal, envelopes } = sealPayloads(key, "s1", [decision("203.0.113.3"), decision("2001:db8:bad::/48")]);
    d.onDecisionEntry(sealKey("s1"), enc.encode(JSON.stringify(seal)));
    envelopes.forEach((e, i) => d.onDecisionEntry(`l.s${i}`, enc.encode(JSON.stringify(e))));
    await bans.idle();
    expect(await inKernel("ban4", "203.0.113.1")).toBe(true);
    expect(await inKernel("ban4", "203.0.113.2")).toBe(false);
    expect(await inKernel("ban4", "203.0.113.3")).toBe(true);
    expect(await inKernel("net6", "2001:db8:bad::/48")).toBe(true);
    expect(d.droppedDecisions).toBe(1);
    // the seal was used up: a decision naming it again is refused until the seal comes again (a new watch)
    d.onDecisionEntry("l.s0", enc.encode(JSON.stringify(envelopes[0])));
    expect(d.droppedDecisions).toBe(2);
    d.onDecisionEntry(sealKey("s1"), enc.encode(JSON.stringify(seal)));
    d.onDecisionEntry("l.s0", enc.encode(JSON.stringify(envelopes[0])));
    expect(d.droppedDecisions).toBe(2);
    // a deletion lifts the ban
    d.onDecisionEntry("l.1", null);
    await bans.idle();
    expect(await inKernel("ban4", "203.0.113.1")).toBe(false);
  });

  it("keeps each key's element in exactly one set as decisions change it, and counts bans", async () => {
    const log = pino({ level: "silent" });
    const bans = await synced(new BanSync(new NftBackend(nft, NO_FAILSAFE), log));
    const d = new Defender(bans, "h", {}, () => key.publicKeyPem, log);
    const put = (k: string, cidr: string, type = "Deny") => d.onDecisionEntry(k, enc.encode(JSON.stringify(signPayload(key, decision(cidr, type)))));
    put("c.1", "203.0.113.40");
    put("c.2", "2001:db8:40::/48");
    await bans.idle();
    expect(bans.activeBans).toBe(2);
    // the same key now names a network, then becomes an allow entry: the old elements go
    put("c.1", "203.0.113.0/28");
    await bans.idle();
    expect(await inKernel("ban4", "203.0.113.40")).toBe(false);
    expect(await inKernel("net4", "203.0.113.0/28")).toBe(true);
    put("c.1", "203.0.113.0/28", "Allow");
    await bans.idle();
    expect(await inKernel("net4", "203.0.113.0/28")).toBe(false);
    expect(await inKernel("allow4", "203.0.113.0/28")).toBe(true);
    expect(bans.allowed("203.0.113.5")).toBe(true);
    expect(bans.allowed("203.0.113.99")).toBe(false);
    expect(bans.activeBans).toBe(1);
    // changes faster than the kernel is written: two moves within one batch leave only the last element
    put("c.3", "203.0.113.50");
    await bans.idle();
    put("c.3", "203.0.113.51");
    put("c.3", "203.0.113.52");
    await bans.idle();
    expect(await inKernel("ban4", "203.0.113.50")).toBe(false);
    expect(await inKernel("ban4", "203.0.113.51")).toBe(false);
    expect(await inKernel("ban4", "203.0.113.52")).toBe(true);
    // and a move away and back keeps the element
    put("c.3", "203.0.113.53");
    put("c.3", "203.0.113.52");
    await bans.idle();
    expect(await inKernel("ban4", "203.0.113.52")).toBe(true);
    expect(await inKernel("ban4", "203.0.113.53")).toBe(false);
    // a deletion that comes twice before the kernel is written still lifts the ban
    put("c.4", "203.0.113.54");
    await bans.idle();
    d.onDecisionEntry("c.4", null);
    d.onDecisionEntry("c.4", null);
    await bans.idle();
    expect(await inKernel("ban4", "203.0.113.54")).toBe(false);
    expect(bans.errors).toBe(0);
    d.onDecisionEntry("c.3", null);
    d.onDecisionEntry("c.1", null);
    d.onDecisionEntry("c.2", null);
    await bans.idle();
    expect(await inKernel("allow4", "203.0.113.0/28")).toBe(false);
    expect(await inKernel("net6", "2001:db8:40::/48")).toBe(false);
    expect(bans.allowed("203.0.113.5")).toBe(false);
    expect(bans.activeBans).toBe(0);
  });

  it("keeps a bucket key's element in the key itself, and still lifts, moves and counts each ban", async () => {
    const log = pino({ level: "silent" });
    const bans = await synced(new BanSync(new NftBackend(nft, NO_FAILSAFE), log));
    const d = new Defender(bans, "h", {}, () => key.publicKeyPem, log);
    const put = (k: string, cidr: string) => d.onDecisionEntry(k, enc.encode(JSON.stringify(signPayload(key, decision(cidr)))));
    const cases = [
      ["ban4", "203.0.113.70"],
      ["net4", "203.0.113.64/29"],
      ["ban6", "2001:db8:70::1"],
      ["net6", "2001:db8:71::/64"], // its key does not name it unambiguously: the element is kept
    ] as const;
    for (const [, cidr] of cases) expect(elementOfKey(banKey("k", cidr)) === cidr).toBe(!cidr.endsWith("/64"));
    // the keys arrive as slices of their subjects, as from a subscription
    const subjects = cases.map(([, cidr]) => `fleetwall.live.bans.${banKey("k", cidr)}`);
    cases.forEach(([, cidr], i) => put((subjects[i] as string).slice("fleetwall.live.bans.".length), cidr));
    await bans.idle();
    for (const [set, cidr] of cases) expect(await inKernel(set, cidr)).toBe(true);
    expect(bans.activeBans).toBe(4);
    // a key that names one address but whose decision says another: the decision wins
    put(banKey("k", "203.0.113.70"), "203.0.113.71");
    await bans.idle();
    expect(await inKernel("ban4", "203.0.113.70")).toBe(false);
    expect(await inKernel("ban4", "203.0.113.71")).toBe(true);
    put(banKey("k", "203.0.113.70"), "203.0.113.70");
    await bans.idle();
    expect(await inKernel("ban4", "203.0.113.71")).toBe(false);
    expect(await inKernel("ban4", "203.0.113.70")).toBe(true);
    for (const [, cidr] of cases) d.onDecisionEntry(banKey("k", cidr), null);
    await bans.idle();
    for (const [set, cidr] of cases) expect(await inKernel(set, cidr)).toBe(false);
    expect(bans.activeBans).toBe(0);
    expect(bans.errors).toBe(0);
  });

  it("shares a local detection with the fleet only once the address is banned here", async () => {
    const log = pino({ level: "silent" });
    const bans = await synced(new BanSync(new NftBackend(nft, NO_FAILSAFE), log));
    const d = new Defender(bans, "h", {}, () => key.publicKeyPem, log);
    const seen: { address: string; appliedBefore: number; bannedHere: boolean }[] = [];
    const sink = {
      publishSignal: async (sig: BanSignal) => {
        // what BanSync had put into the kernel when the signal left, before anything else can run
        const appliedBefore = bans.applied;
        seen.push({ address: sig.address, appliedBefore, bannedHere: await inKernel("local4", sig.address) });
      },
    };
    const jail: JailIR = { name: "sshd", failRegex: [], source: { file: "/var/log/auth.log" }, maxRetry: 1, findTimeSeconds: 600, banTimeSeconds: 600, ignore: [], share: "Fleet" };
    for (let i = 0; i < 5; i += 1) d.onJailBan({ jail: "sshd", address: `203.0.113.${60 + i}`, failures: 1, banSeconds: 600 }, jail, sink);
    await vi.waitFor(() => expect(seen).toHaveLength(5), { timeout: 30_000 });
    seen.forEach((s, i) => expect(s.appliedBefore).toBeGreaterThanOrEqual(i + 1));
    expect(seen.every((s) => s.bannedHere)).toBe(true);
    expect(d.signalsSent).toBe(5);
  });

  it("never bans its NATS server, its own addresses or special addresses, locally or by a fleet decision", async () => {
    const log = pino({ level: "silent" });
    const bans = await synced(new BanSync(new NftBackend(nft, NO_FAILSAFE), log));
    const self = new SelfProtection(bans, log);
    // the NATS server and this host's own address, as main.ts hands them on
    self.add([parseCidr("198.18.77.1"), parseCidr("2001:db8:77::2")]);
    const d = new Defender(bans, "h", {}, () => key.publicKeyPem, log);
    const sent: string[] = [];
    const sink = { publishSignal: async (sig: BanSignal) => void sent.push(sig.address) };
    const jail: JailIR = { name: "sshd", failRegex: [], source: { file: "/var/log/auth.log" }, maxRetry: 1, findTimeSeconds: 600, banTimeSeconds: 600, ignore: [], share: "Fleet" };
    for (const address of ["198.18.77.1", "2001:db8:77::2", "fe80::1", "127.0.0.1", "0.0.0.0", "224.0.0.251", "203.0.113.90"]) d.onJailBan({ jail: "sshd", address, failures: 2, banSeconds: 600 }, jail, sink);
    await vi.waitFor(() => expect(sent).toEqual(["203.0.113.90"]), { timeout: 30_000 });
    await bans.idle();
    expect(await inKernel("local4", "198.18.77.1")).toBe(false);
    expect(await inKernel("local6", "2001:db8:77::2")).toBe(false);
    expect(await inKernel("local6", "fe80::1")).toBe(false);
    expect(await inKernel("local4", "203.0.113.90")).toBe(true);
    // a fleet decision naming them is held, but the allowlist, matched first, keeps them reachable
    d.onDecisionEntry("l.nats", enc.encode(JSON.stringify(signPayload(key, decision("198.18.77.1")))));
    await bans.idle();
    for (const [set, el] of [["allow4", "198.18.77.1"], ["allow6", "2001:db8:77::2"], ["allow6", "fe80::1"], ["allow6", "ff02::1"], ["allow4", "127.0.0.1"], ["allow4", "169.254.1.1"]] as const) expect(await inKernel(set, el), `${set} ${el}`).toBe(true);
  });
});
