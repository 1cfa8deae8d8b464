import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { SCHEMA_VERSION, type BanSignal, type JailIR, envelopeText, generateSigningKeyPem, loadSigningKey, signPayload, type FleetProtection } from "@fleetwall/api";
import { BanSync } from "./bans.js";
import { Defender } from "./defender.js";
import { FleetShield, protectionChanges, verifyProtection } from "./fleet-shield.js";
import { MemoryBackend } from "./memory-backend.js";
import { StateStore } from "./state-store.js";

const pem = generateSigningKeyPem();
const key = loadSigningKey(pem.privatePem);
const other = loadSigningKey(generateSigningKeyPem().privatePem);
const silent = pino({ level: "silent" });
const enc = new TextEncoder();

const list = (revision: number, entries: string[], signer = key, extra: Record<string, unknown> = {}) =>
  envelopeText(signPayload(signer, JSON.stringify({ schemaVersion: SCHEMA_VERSION, revision, issuedAt: "2026-12-06T04:00:00.000Z", entries, ...extra } satisfies FleetProtection | Record<string, unknown>)));

describe("verifyProtection", () => {
  const held = { revision: 5, hash: undefined };
  it.each([
    ["no trusted key", list(6, []), undefined, /no trusted controller key/],
    ["another key", list(6, [], other), pem.publicPem, /bad signature/],
    ["not an envelope", "{}", pem.publicPem, /not a signed envelope|not JSON/],
    ["an entry that is no address", list(6, ["198.18.0.12", "h2"]), pem.publicPem, /entry "h2" is not an address/],
    ["an unknown field", list(6, [], key, { extra: 1 }), pem.publicPem, /not a fleet protection list/],
    ["an older revision", list(4, []), pem.publicPem, /replayed revision 4 < held 5/],
  ])("refuses %s", (_, data, trusted, reason) => {
    const v = verifyProtection(data, trusted, held);
    expect(v.ok).toBe(false);
    expect(v.ok ? "" : v.reason).toMatch(reason);
  });

  it("takes a newer list, the same revision again only with the same content", () => {
    const v = verifyProtection(list(6, ["198.18.0.12"]), pem.publicPem, held);
    expect(v.ok && v.list.entries).toEqual(["198.18.0.12"]);
    const hash = v.ok ? v.hash : "";
    expect(verifyProtection(list(6, ["198.18.0.12"]), pem.publicPem, { revision: 6, hash }).ok).toBe(true);
    // a second controller publishing the same entries under the same revision (another issuedAt) agrees
    expect(verifyProtection(list(6, ["198.18.0.12"], key, { issuedAt: "2026-12-06T04:00:01.000Z" }), pem.publicPem, { revision: 6, hash }).ok).toBe(true);
    const twin = verifyProtection(list(6, ["203.0.113.9"]), pem.publicPem, { revision: 6, hash });
    expect(twin.ok ? "" : twin.reason).toMatch(/two lists under one revision/);
  });
});

describe("protectionChanges", () => {
  it("adds what is new and takes back what went, by canonical text", () => {
    expect(protectionChanges(new Set(["198.18.0.11", "2001:db8::1"]), ["198.18.0.12", "2001:DB8:0::1", "198.18.0.12"])).toEqual({ add: ["198.18.0.12"], remove: ["198.18.0.11"] });
  });
});

describe("FleetShield", () => {
  const setup = async (dir: string) => {
    const backend = new MemoryBackend();
    const bans = new BanSync(backend, silent);
    await bans.ensureTable();
    await bans.synced();
    const shield = new FleetShield(bans, new StateStore(dir), () => pem.publicPem, silent);
    return { backend, bans, shield };
  };

  it("allows the list's entries in the kernel, takes back removed ones, keeps the list and refuses an older one after a restart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fleet-shield-"));
    try {
      const a = await setup(dir);
      await a.shield.onValue(enc.encode(list(2, ["198.18.0.12", "198.18.0.13", "2001:db8::12"])), false);
      await a.bans.idle();
      expect([...a.backend.elements("allow", "ip").keys()].sort()).toEqual(["198.18.0.12", "198.18.0.13"]);
      expect(a.bans.allowed("198.18.0.13")).toBe(true);
      await a.shield.onValue(enc.encode(list(3, ["198.18.0.12", "2001:db8::12"])), false);
      await a.bans.idle();
      expect([...a.backend.elements("allow", "ip").keys()]).toEqual(["198.18.0.12"]);
      expect(a.bans.allowed("198.18.0.13")).toBe(false);
      expect(a.bans.allowed("2001:db8::12")).toBe(true);
      // own protections (management) are not taken back by the fleet's list
      await a.bans.protect("198.18.0.200");
      await a.shield.onValue(enc.encode(list(4, [])), false);
      await a.bans.idle();
      expect([...a.backend.elements("allow", "ip").keys()]).toEqual(["198.18.0.200"]);
      await a.shield.onValue(enc.encode(list(5, ["198.18.0.12"])), false);

      // a restarted agent protects the saved list before the bus, and refuses the older lists put back
      const b = await setup(dir);
      await b.shield.restore();
      await b.bans.idle();
      expect(b.shield.revision).toBe(5);
      expect(b.bans.allowed("198.18.0.12")).toBe(true);
      await b.shield.onValue(enc.encode(list(3, ["198.18.0.12", "198.18.0.13"])), false);
      expect(b.shield.dropped).toBe(1);
      expect(b.bans.allowed("198.18.0.13")).toBe(false);
      // a stored list older than the one held was overtaken, not replayed: not counted
      await b.shield.onValue(enc.encode(list(4, [])), true);
      expect(b.shield.dropped).toBe(1);
      // the same entries under a newer revision (published again after the bucket was lost) are held, and saved
      await b.shield.onValue(enc.encode(list(9, ["198.18.0.12"])), false);
      expect(b.shield.revision).toBe(9);
      const c = await setup(dir);
      await c.shield.restore();
      expect(c.shield.revision).toBe(9);
      await c.shield.onValue(enc.encode(list(8, ["198.18.0.12"])), false);
      expect(c.shield.dropped).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A synced bans table, a defender logging to `log`, and the fleet's list holding 198.18.0.12 (saved under `dir`). */
async function shieldedDefender(dir: string, log: pino.Logger): Promise<{ backend: MemoryBackend; bans: BanSync; defender: Defender }> {
  const backend = new MemoryBackend();
  const bans = new BanSync(backend, silent);
  await bans.ensureTable();
  await bans.synced();
  const defender = new Defender(bans, "h1", {}, () => pem.publicPem, log);
  await new FleetShield(bans, new StateStore(dir), () => pem.publicPem, silent).onValue(enc.encode(list(1, ["198.18.0.12"])), false);
  return { backend, bans, defender };
}

describe("jails and the fleet's list", () => {
  it("a jail does not ban an address of the list locally nor signal it; each skip is counted, the log line throttled; others are banned", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fleet-shield-"));
    try {
      const lines: { msg: string }[] = [];
      const log = pino({ level: "info" }, { write: (l: string) => void lines.push(JSON.parse(l)) });
      const { backend, bans, defender } = await shieldedDefender(dir, log);
      const jail = { name: "sshd", share: "Fleet" } as unknown as JailIR;
      const sent: string[] = [];
      const sink = { publishSignal: async (s: BanSignal) => void sent.push(s.address) };
      for (let i = 0; i < 50; i += 1) defender.onJailBan({ jail: "sshd", address: "198.18.0.12", failures: 2, banSeconds: 600 }, jail, sink);
      defender.onJailBan({ jail: "sshd", address: "203.0.113.7", failures: 2, banSeconds: 600 }, jail, sink);
      await bans.idle();
      await new Promise((r) => setTimeout(r, 100));
      expect(defender.skipped.protected).toBe(50);
      expect(lines.filter((l) => l.msg === "allowlisted address not banned")).toHaveLength(1);
      expect([...backend.elements("local", "ip").keys()]).toEqual(["203.0.113.7"]);
      expect(sent).toEqual(["203.0.113.7"]);
      defender.close();
      // the rest are one line with their count, written at the latest when the defender stops
      expect(lines.filter((l) => l.msg.startsWith("jail bans of protected addresses skipped"))).toEqual([expect.objectContaining({ reason: "protected", suppressed: 49 })]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("jails and the IPv6 forms of a protected IPv4 address", () => {
  it("a crafted line naming a listed host in its NAT64, 6to4 or Teredo form bans nothing; other translated addresses are banned", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fleet-shield-"));
    try {
      const { backend, bans, defender } = await shieldedDefender(dir, silent);
      await bans.protect("198.51.100.0/24");
      const jail = { name: "sshd", share: "Local" } as unknown as JailIR;
      // 198.18.0.12 is c612:000c; 198.51.100.9 (a management network) is c633:6409
      const forms = ["64:ff9b::198.18.0.12", "64:ff9b:1:c612:0:c00::", "64:ff9b:1:aa:bb:cc:c612:c", "2002:c612:c::1", "2001:0:4136:e378:8000:63bf:39ed:fff3", "::ffff:198.18.0.12", "64:ff9b::c633:6409"];
      for (const address of forms) defender.onJailBan({ jail: "sshd", address, failures: 2, banSeconds: 600 }, jail, undefined);
      defender.onJailBan({ jail: "sshd", address: "64:ff9b::cb00:7107", failures: 2, banSeconds: 600 }, jail, undefined);
      await bans.idle();
      expect(defender.skipped.protected).toBe(forms.length);
      expect([...backend.elements("local", "ip6").keys()]).toEqual(["64:ff9b::cb00:7107"]);
      expect([...backend.elements("local", "ip").keys()]).toEqual([]);
      defender.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
