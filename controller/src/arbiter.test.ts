import { describe, expect, it } from "vitest";
import { BanList, SCHEMA_VERSION, banKey, parseCidr, type BanDecision, type BanSignal } from "@fleetwall/api";
import { arbitrate, protectedReason, type ArbiterConfig } from "./arbiter.js";
import { planBanLists } from "./ban-keeper.js";

const config: ArbiterConfig = { minReporters: 1, reportWindowSeconds: 3600, maxBanSeconds: 30 * 86400, minPrefix: { ip: 16, ip6: 48 }, protect: [parseCidr("198.18.0.1")] };
const now = Date.parse("2026-11-27T12:00:00Z");
const signal = (over: Partial<BanSignal> = {}): BanSignal => ({ schemaVersion: SCHEMA_VERSION, hostId: "a", jail: "sshd", address: "203.0.113.7", failures: 5, at: new Date(now).toISOString(), banSeconds: 3600, ...over });
const view = (over: Partial<Parameters<typeof arbitrate>[1]> = {}) => ({ allow: [], hosts: [parseCidr("198.18.0.11")], previous: undefined, reporters: new Map([["a", now]]), ...over });

describe("arbitrate", () => {
  it("bans a reported address fleet-wide for the jail's ban time", () => {
    const v = arbitrate(signal(), view(), config, now);
    expect(v).toMatchObject({ ban: { list: "jail-sshd", type: "Deny", cidr: "203.0.113.7", origins: ["a"], offences: 1, expiresAt: "2026-11-27T13:00:00.000Z", source: "jail" } });
  });

  it.each<[string, Partial<BanSignal>, Partial<Parameters<typeof arbitrate>[1]>, string]>([
    ["allowlisted", {}, { allow: [parseCidr("203.0.113.0/24")] }, "allowlisted"],
    ["a fleet host", { address: "198.18.0.11" }, {}, "a fleet host"],
    ["the control plane", { address: "198.18.0.1" }, {}, "the control plane"],
    ["not an address", { address: "example.com" }, {}, "not an address"],
  ])("never bans %s", (_n, s, v, reason) => {
    expect(arbitrate(signal(s), view(v), config, now)).toEqual({ skip: reason });
  });

  it("waits for enough distinct reporting hosts within the window", () => {
    const strict = { ...config, minReporters: 2 };
    expect(arbitrate(signal(), view(), strict, now)).toEqual({ skip: "1 of 2 reporting hosts" });
    const stale = new Map([["a", now], ["b", now - 2 * 3600_000]]);
    expect(arbitrate(signal(), view({ reporters: stale }), strict, now)).toEqual({ skip: "1 of 2 reporting hosts" });
    const two = new Map([["a", now], ["b", now - 60_000]]);
    expect(arbitrate(signal(), view({ reporters: two }), strict, now)).toMatchObject({ ban: { origins: ["a", "b"] } });
  });

  it("escalates repeat offenders by the factor, up to the maximum", () => {
    const inc = { increment: { factor: 2, maxSeconds: 3 * 3600 } };
    const prev = (offences: number) => ({ previous: { offences } as BanDecision });
    const seconds = (v: ReturnType<typeof arbitrate>) => ("ban" in v ? (Date.parse(v.ban.expiresAt as string) - now) / 1000 : -1);
    expect(seconds(arbitrate(signal(inc), view(), config, now))).toBe(3600);
    expect(seconds(arbitrate(signal(inc), view(prev(1)), config, now))).toBe(7200);
    expect(seconds(arbitrate(signal(inc), view(prev(5)), config, now))).toBe(3 * 3600);
    expect(seconds(arbitrate(signal({ banSeconds: 90 * 86400 }), view(), config, now))).toBe(30 * 86400);
  });
});

describe("protectedReason caps prefixes", () => {
  it.each([
    ["0.0.0.0/0", "prefix /0 is broader than the minimum /16"],
    ["203.0.0.0/15", "prefix /15 is broader than the minimum /16"],
    ["2001:db8::/32", "prefix /32 is broader than the minimum /48"],
    ["198.18.0.0/16", "a fleet host"],
  ])("%s → %s", (cidr, reason) => expect(protectedReason(parseCidr(cidr), { allow: [], hosts: [parseCidr("198.18.0.11")] }, config)).toBe(reason));
  it("lets a /24 outside the fleet through", () => expect(protectedReason(parseCidr("203.0.113.0/24"), { allow: [], hosts: [] }, config)).toBeUndefined());
});

describe("planBanLists", () => {
  const list = (entries: unknown[], type = "Deny") => BanList.parse({ apiVersion: "fleetwall.io/v1alpha1", kind: "BanList", metadata: { name: "manual" }, spec: { type, entries } });
  const none = () => undefined;

  it("publishes live entries with their expiry, skips expired and protected ones", () => {
    const plan = planBanLists(
      [list([
        { cidr: "203.0.113.7", reason: "credential stuffing", duration: "24h" },
        { cidr: "2001:db8:bad::/48", reason: "scanner", expires: "2026-12-31T00:00:00Z" },
        { cidr: "203.0.113.8", expires: "2026-01-01T00:00:00Z" },
        { cidr: "198.18.0.11" },
      ])],
      new Map(),
      (c) => (c.text === "198.18.0.11" ? "a fleet host" : undefined),
      now,
    );
    expect(plan.puts.map((d) => [d.cidr, d.expiresAt])).toEqual([["203.0.113.7", "2026-11-28T12:00:00.000Z"], ["2001:db8:bad::/48", "2026-12-31T00:00:00.000Z"]]);
    expect(plan.skipped).toEqual([{ list: "manual", cidr: "198.18.0.11", reason: "a fleet host" }]);
  });

  it("changes nothing when the bucket already agrees, keeps a duration's start, and deletes removed entries", () => {
    const first = planBanLists([list([{ cidr: "203.0.113.7", duration: "1h" }])], new Map(), none, now);
    const current = new Map(first.puts.map((d) => [banKey(d.list, d.cidr), d]));
    const later = planBanLists([list([{ cidr: "203.0.113.7", duration: "1h" }])], current, none, now + 600_000);
    expect(later).toEqual({ puts: [], deletes: [], skipped: [] });
    expect(planBanLists([list([])], current, none, now).deletes).toEqual([banKey("manual", "203.0.113.7")]);
  });
});
