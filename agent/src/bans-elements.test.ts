import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ElementsReply, banKey, compareKernel, expectedFromDecisions, expectedOfReply, nextCursor, type ElementsCursor } from "@fleetwall/api";
import { ElementsAnswerer, elementsReply } from "./bans-elements.js";
import { ListingUnreadable, parseBansListing } from "./bans-listing.js";
import { BanSync } from "./bans.js";
import { MemoryBackend } from "./memory-backend.js";

const log = pino({ level: "silent" });
const enc = new TextEncoder();
const dec = new TextDecoder();

// what nft 1.0.6 prints for `nft -j list table inet fleetwall_bans` (trimmed to the sets' part)
const LISTING = JSON.stringify({
  nftables: [
    { metainfo: { version: "1.0.6", json_schema_version: 1 } },
    { table: { family: "inet", name: "fleetwall_bans", handle: 9 } },
    { set: { family: "inet", name: "net4", table: "fleetwall_bans", type: "ipv4_addr", flags: ["interval", "timeout"], elem: [{ elem: { val: { prefix: { addr: "10.2.1.0", len: 24 } }, timeout: 183600, expires: 183599 } }, { prefix: { addr: "10.1.0.0", len: 16 } }, { range: ["10.3.0.1", "10.3.0.5"] }] } },
    { set: { family: "inet", name: "ban4", table: "fleetwall_bans", type: "ipv4_addr", flags: ["timeout"], elem: [{ elem: { val: "1.2.3.4", timeout: 10, expires: 9 } }, "5.6.7.8"] } },
    { set: { family: "inet", name: "ban6", table: "fleetwall_bans", type: "ipv6_addr", flags: ["timeout"], elem: [{ elem: { val: "2001:DB8:0::1", timeout: 1, expires: 1 } }] } },
    { set: { family: "inet", name: "local4", table: "fleetwall_bans", type: "ipv4_addr", flags: ["timeout"] } },
    { set: { family: "inet", name: "someone_elses", table: "fleetwall_bans", type: "ipv4_addr", elem: ["9.9.9.9"] } },
    { chain: { family: "inet", table: "fleetwall_bans", name: "input" } },
  ],
});

describe("parseBansListing: nft's JSON listing of the bans table", () => {
  it("reads plain, prefix, range and timed elements, canonical and sorted, and ignores other sets", () => {
    const l = parseBansListing(LISTING);
    expect(l.get("net4")).toEqual([{ element: "10.1.0.0/16" }, { element: "10.2.1.0/24", expiresInMs: 183_599_000 }, { element: "10.3.0.1-10.3.0.5" }]);
    expect(l.get("ban4")).toEqual([{ element: "1.2.3.4", expiresInMs: 9000 }, { element: "5.6.7.8" }]);
    expect(l.get("ban6")).toEqual([{ element: "2001:db8::1", expiresInMs: 1000 }]);
    expect(l.get("local4")).toEqual([]);
    expect([...l.keys()]).not.toContain("someone_elses");
  });

  it.each([["not json", "{"], ["no array", "{}"], ["an element of unknown shape", JSON.stringify({ nftables: [{ set: { name: "ban4", elem: [{ concat: [1, 2] }] } }] })], ["an address that is none", JSON.stringify({ nftables: [{ set: { name: "ban4", elem: ["\u001b[2J"] } }] })]])("refuses %s", (_what, text) => {
    expect(() => parseBansListing(text)).toThrow(ListingUnreadable);
  });
});

describe("ElementsAnswerer: an operator's element listing, answered from the kernel", () => {
  const setup = async () => {
    let now = Date.parse("2026-12-06T00:00:00Z");
    const backend = new MemoryBackend({ now: () => now });
    const bans = new BanSync(backend, log, { now: () => now });
    await bans.ensureTable();
    await bans.synced();
    const answerer = new ElementsAnswerer(backend, bans, "web-2", log, () => new Date(now));
    const ask = async (body: unknown, max = 1 << 20) => JSON.parse(dec.decode(await answerer.answer(enc.encode(JSON.stringify(body)), max))) as ElementsReply;
    return { backend, bans, ask, answerer, advance: (ms: number) => (now += ms) };
  };

  it("lists what the kernel holds, not what the agent believes, with its refusals, local bans and own entries", async () => {
    const { backend, bans, ask } = await setup();
    await bans.protect("198.18.9.0/24");
    await bans.set("m.10.77.0.9", { kind: "ban", family: "ip", element: "10.77.0.9", expiresAt: Infinity });
    await bans.setLocal("sshd", "203.0.113.5", 600);
    backend.refuseElement("10.77.0.230");
    await bans.set("m.10.77.0.230", { kind: "ban", family: "ip", element: "10.77.0.230", expiresAt: Infinity });
    await bans.idle();
    backend.flushSet("ban", "ip"); // behind the agent's back
    const r = ElementsReply.parse(await ask({ schemaVersion: 1, limit: 100 }));
    expect(r.sets.find((s) => s.set === "ban4")).toEqual({ set: "ban4", total: 0, elements: [] });
    expect(r.sets.find((s) => s.set === "local4")?.elements).toEqual([{ element: "203.0.113.5", expiresInMs: 600_000 }]);
    expect(r.sets.find((s) => s.set === "allow4")?.elements).toEqual([{ element: "198.18.9.0/24" }]);
    expect(r.refused).toEqual([{ set: "ban4", element: "10.77.0.230", error: expect.stringContaining("refused") }]);
    expect(r).toMatchObject({ hostId: "web-2", loading: false, own: [{ set: "allow4", element: "198.18.9.0/24" }], local: [{ address: "203.0.113.5", jail: "sshd" }], localTotal: 1 });
  });

  it("keeps to the limit and to the server's payload size, saying how many each set holds", async () => {
    const { bans, ask, backend } = await setup();
    for (let i = 1; i <= 200; i += 1) void bans.set(`m.10.0.${i >> 8}.${i & 255}`, { kind: "ban", family: "ip", element: `10.0.${i >> 8}.${i & 255}`, expiresAt: Infinity });
    await bans.idle();
    expect(backend.elements("ban", "ip").size).toBe(200);
    const small = await ask({ schemaVersion: 1, limit: 10 });
    expect(small.sets.find((s) => s.set === "ban4")).toMatchObject({ total: 200, elements: expect.any(Array) });
    expect(small.sets.reduce((n, s) => n + s.elements.length, 0)).toBe(10);
    const answerer = new ElementsAnswerer(backend, bans, "web-2", log);
    const bytes = await answerer.answer(enc.encode(JSON.stringify({ schemaVersion: 1, limit: 200 })), 2_000);
    expect(bytes.length).toBeLessThanOrEqual(2_000);
    expect(ElementsReply.parse(JSON.parse(dec.decode(bytes))).sets.find((s) => s.set === "ban4")?.total).toBe(200);
  });

  it("refuses a malformed request and a second one while listing, with an answer that says so", async () => {
    const { ask, backend, answerer } = await setup();
    expect((await ask({ schemaVersion: 1, limit: 0 })).error).toMatch(/malformed/);
    expect((await ask({ schemaVersion: 1, limit: 5, extra: 1 })).error).toMatch(/malformed/);
    let release = () => {};
    const slow = new Promise<void>((r) => (release = r));
    const list = backend.listBans.bind(backend);
    backend.listBans = async () => (await slow, list());
    const first = ask({ schemaVersion: 1, limit: 5 });
    expect((await ask({ schemaVersion: 1, limit: 5 })).error).toMatch(/busy/);
    release();
    expect((await first).error).toBeUndefined();
    backend.loseTable("bans");
    expect((await ask({ schemaVersion: 1, limit: 5 })).error).toMatch(/no bans table/);
    // counted for the agent's metrics (fleetwall_agent_element_requests_refused_total)
    expect({ answered: answerer.answered, refused: answerer.refused }).toEqual({ answered: 1, refused: 4 });
  });

  it("pages through every element: each page after the last one's cursor, none judged twice differently, none left out", async () => {
    const { bans, backend } = await setup();
    const decisions = [];
    for (let i = 1; i <= 37; i += 1) decisions.push({ list: "m", type: "Deny", cidr: `10.0.${i % 3}.${i}`, expiresAt: null });
    for (let i = 1; i <= 5; i += 1) decisions.push({ list: "m", type: "Deny", cidr: `10.${i}.0.0/16`, expiresAt: null }, { list: "m", type: "Deny", cidr: `2001:db8::${i}`, expiresAt: null });
    for (const d of decisions) void bans.set(banKey("m", d.cidr), { kind: d.cidr.includes("/") ? "net" : "ban", family: d.cidr.includes(":") ? "ip6" : "ip", element: d.cidr, expiresAt: Infinity });
    for (let i = 1; i <= 4; i += 1) await bans.setLocal("sshd", `203.0.113.${i}`, 600);
    // own entries, one inside another: a page may start between them
    const OWN = ["::1", "2001:db8:2::11", "fe80::/10", "fe80::8c19:1", "ff00::/8", "127.0.0.0/8", "198.18.2.11"];
    for (const own of OWN) await bans.protect(own);
    await bans.idle();
    const listing = await backend.listBans();
    // every page size, so pages start at every place, also between a network and an entry inside it
    for (let limit = 1; limit <= 9; limit += 1) {
      const seen = new Map<string, string>();
      let after: ElementsCursor | undefined;
      let pages = 0;
      do {
        const reply = ElementsReply.parse(elementsReply("web-2", new Date(), listing ?? new Map(), bans.held(), limit, after));
        const c = compareKernel(reply, [...expectedFromDecisions(decisions), ...expectedOfReply(reply)], Date.now());
        for (const r of c.rows) {
          expect(seen.get(`${r.set} ${r.element}`) ?? r.state, `limit ${limit}`).toBe(r.state);
          seen.set(`${r.set} ${r.element}`, r.state);
        }
        after = nextCursor(reply);
        pages += 1;
      } while (after && pages < 200);
      expect(pages).toBeGreaterThan(5);
      expect([...seen].filter(([, state]) => state !== "in force" && state !== "own"), `limit ${limit}`).toEqual([["allow6 fe80::8c19:1", "covered"]]);
      expect(seen.size).toBe(37 + 10 + 4 + OWN.length);
    }
  });
});
