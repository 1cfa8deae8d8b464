import { describe, expect, it } from "vitest";
import { BanList, banKey, newDecision, parseCidr, sealKey, type Cidr } from "@fleetwall/api";
import { MEMORY_MS, planAdd, planDelete, planExpiry, planImport } from "./ban-plan.js";
import { planBanLists } from "./banlist-plan.js";

const now = Date.parse("2026-11-27T12:00:00Z");
const fleetHost = (c: Cidr) => (c.text === "198.18.0.11" ? "a fleet host" : undefined);
const none = () => undefined;

describe("planAdd", () => {
  it("plans one operator decision with its expiry", () => {
    expect(planAdd({ cidr: "203.0.113.0/24", durationSeconds: 60, reason: "scan" }, none, now)).toEqual({
      puts: [newDecision({ list: "cli", cidr: "203.0.113.0/24", reason: "scan", scenario: "manual", createdAtMs: now, expiresAtMs: now + 60_000, source: "cli" })],
      deletes: [],
      refusals: [],
    });
  });
  it.each([
    ["nonsense", "not an address or CIDR"],
    ["198.18.0.11", "a fleet host"],
    ["203.0.113.7/24", "203.0.113.7/24 has host bits set: did you mean 203.0.113.0/24?"],
    ["::ffff:0.0.0.0/96", "::ffff:0.0.0.0/96 is an IPv4-mapped IPv6 address: write the IPv4 form (0.0.0.0/0)"],
  ])("refuses %s: %s", (cidr, reason) => expect(planAdd({ cidr, durationSeconds: null, reason: "" }, fleetHost, now)).toEqual({ puts: [], deletes: [], refusals: [{ cidr, reason }] }));
});

describe("planImport", () => {
  it("plans a bulk put of the acceptable entries and refuses the rest, each with why", () => {
    const plan = planImport({ list: "feed", durationSeconds: null, reason: "feed", entries: ["203.0.113.1", "x", "198.18.0.11", "2001:db8::1", "203.0.113.9/24"] }, fleetHost, now);
    expect(plan.bulk).toBe(true);
    expect(plan.puts.map((d) => [d.list, d.cidr, d.expiresAt, d.scenario])).toEqual([["feed", "203.0.113.1", null, "import"], ["feed", "2001:db8::1", null, "import"]]);
    expect(plan.refusals).toEqual([{ cidr: "x", reason: "not an address or CIDR" }, { cidr: "198.18.0.11", reason: "a fleet host" }, { cidr: "203.0.113.9/24", reason: "203.0.113.9/24 has host bits set: did you mean 203.0.113.0/24?" }]);
  });
});

describe("planDelete", () => {
  const deny = newDecision({ list: "cli", cidr: "203.0.113.7", createdAtMs: now, expiresAtMs: null, source: "cli" });
  const jail = newDecision({ list: "jail-sshd", cidr: "203.0.113.7", createdAtMs: now, expiresAtMs: now + 1, source: "jail" });
  const allow = newDecision({ list: "admins", type: "Allow", cidr: "203.0.113.7", createdAtMs: now, expiresAtMs: null, source: "BanList" });
  const current = new Map([deny, jail, allow].map((d) => [banKey(d.list, d.cidr), d]));
  it("lifts every Deny for exactly that address, never an Allow", () => {
    expect(planDelete("203.0.113.7", current)).toEqual({ puts: [], deletes: [banKey("cli", "203.0.113.7"), banKey("jail-sshd", "203.0.113.7")], refusals: [] });
  });
  it("says when there is nothing to lift", () => expect(planDelete("203.0.113.8", current).refusals).toEqual([{ cidr: "203.0.113.8", reason: "no ban for 203.0.113.8" }]));
});

describe("planExpiry", () => {
  it("forgets expired operator decisions at once, jail ones after a week, and seals no decision uses after a minute", () => {
    const d = (list: string, source: "cli" | "jail", expiresAtMs: number | null) => newDecision({ list, cidr: "203.0.113.7", createdAtMs: 0, expiresAtMs, source });
    const current = new Map([
      ["a", d("cli", "cli", now - 1)],
      ["b", d("jail-x", "jail", now - 1)],
      ["c", d("jail-y", "jail", now - MEMORY_MS - 1)],
      ["d", d("cli2", "cli", null)],
      ["e", d("imp", "cli", now + 1000)],
    ]);
    const seals = new Map([["used", 0], ["old", now - 61_000], ["young", now - 1000]]);
    const plan = planExpiry(current, seals, new Map([["e", "used"]]), now);
    expect(plan.deletes).toEqual([sealKey("old"), "a", "c"]);
  });
});

describe("planBanLists", () => {
  const list = (entries: unknown[], type = "Deny") => BanList.parse({ apiVersion: "fleetwall.io/v1alpha1", kind: "BanList", metadata: { name: "manual" }, spec: { type, entries } });

  it("publishes live entries with their expiry, and refuses protected ones naming the list", () => {
    const plan = planBanLists(
      [list([
        { cidr: "203.0.113.7", reason: "credential stuffing", duration: "24h" },
        { cidr: "2001:db8:bad::/48", reason: "scanner", expires: "2026-12-31T00:00:00Z" },
        { cidr: "203.0.113.8", expires: "2026-01-01T00:00:00Z" },
        { cidr: "198.18.0.11" },
      ])],
      new Map(),
      fleetHost,
      now,
    );
    expect(plan.puts.map((d) => [d.cidr, d.expiresAt])).toEqual([["203.0.113.7", "2026-11-28T12:00:00.000Z"], ["2001:db8:bad::/48", "2026-12-31T00:00:00.000Z"]]);
    expect(plan.refusals).toEqual([{ list: "manual", cidr: "198.18.0.11", reason: "a fleet host" }]);
  });

  it("never refuses an Allow entry", () => expect(planBanLists([list([{ cidr: "198.18.0.11" }], "Allow")], new Map(), fleetHost, now).refusals).toEqual([]));

  it("changes nothing when the bucket already agrees (whenever it was signed), keeps a duration's start, and deletes removed entries", () => {
    const first = planBanLists([list([{ cidr: "203.0.113.7", duration: "1h" }])], new Map(), none, now);
    const current = new Map(first.puts.map((d) => [banKey(d.list, d.cidr), { ...d, issuedAt: new Date(now).toISOString() }]));
    const later = planBanLists([list([{ cidr: "203.0.113.7", duration: "1h" }])], current, none, now + 600_000);
    expect(later).toEqual({ puts: [], deletes: [], refusals: [], bulk: false });
    expect(planBanLists([list([])], current, none, now).deletes).toEqual([banKey("manual", "203.0.113.7")]);
  });

  // a list the API refuses today may still reach the controller (written by an older version, or by
  // an API server without the CRD's patterns): one bad entry is refused on its own list, never a throw
  it.each([
    ["a duration past any date", { duration: "99999999999999999999999d" }, "expires: not a representable time"],
    ["an expiry centuries ahead", { expires: "2300-01-01T00:00:00Z" }, "expires: more than 3650d (10 years) ahead, the longest a BanList entry may hold"],
    ["an expiry that is not a time", { expires: "not-a-time" }, "expires: not a representable time"],
  ])("refuses %s on its list and publishes the other lists", (_what, extra, reason) => {
    const bad = { apiVersion: "fleetwall.io/v1alpha1", kind: "BanList", metadata: { name: "bad" }, spec: { type: "Deny", entries: [{ cidr: "203.0.113.9", ...extra }] } } as unknown as BanList;
    const plan = planBanLists([bad, list([{ cidr: "203.0.113.7", duration: "1h" }])], new Map(), none, now);
    expect(plan.refusals).toEqual([{ list: "bad", cidr: "203.0.113.9", reason }]);
    expect(plan.puts.map((d) => [d.list, d.cidr])).toEqual([["manual", "203.0.113.7"]]);
  });

  it("plans more than 16 puts as a bulk (sealed) publish", () => {
    const entries = Array.from({ length: 17 }, (_, i) => ({ cidr: `203.0.113.${i}` }));
    expect(planBanLists([list(entries)], new Map(), none, now).bulk).toBe(true);
  });
});

it("parseCidr is what plans use for keys", () => expect(parseCidr("203.0.113.7").text).toBe("203.0.113.7"));
