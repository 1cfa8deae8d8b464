import { describe, expect, it } from "vitest";
import { BanAddRequest } from "./ban-messages.js";
import { FirewallPolicy, parseResource } from "./index.js";

const banList = (type: string, entry: Record<string, unknown>) => ({ apiVersion: "fleetwall.io/v1alpha1", kind: "BanList", metadata: { name: "l" }, spec: { type, entries: [{ ...entry }] } });

function refusal(resource: unknown): string {
  const r = parseResource(resource);
  if (r.ok) throw new Error("accepted");
  return r.errors.join("\n");
}

describe("BanList input is refused with the field named", () => {
  it.each([
    ["Deny", { cidr: "203.0.113.7/24" }, "spec.entries[0].cidr: 203.0.113.7/24 has host bits set: did you mean 203.0.113.0/24?"],
    ["Deny", { cidr: "2001:db8::1/64" }, "spec.entries[0].cidr: 2001:db8::1/64 has host bits set: did you mean 2001:db8::/64?"],
    ["Deny", { cidr: "::ffff:0.0.0.0/96" }, "spec.entries[0].cidr: ::ffff:0.0.0.0/96 is an IPv4-mapped IPv6 address: write the IPv4 form (0.0.0.0/0)"],
    ["Allow", { cidr: "::ffff:0.0.0.0/96" }, "IPv4-mapped"],
    ["Deny", { cidr: "203.0.113.7", reason: "line\nbreak" }, "spec.entries[0].reason: must not contain control characters"],
    ["Deny", { cidr: "203.0.113.7", reason: "\u001b[2Jcleared" }, "spec.entries[0].reason: must not contain control characters"],
    ["Deny", { cidr: "203.0.113.7", reason: "c1 \u009b31m" }, "spec.entries[0].reason"],
    ["Deny", { cidr: "203.0.113.7", reason: "x".repeat(201) }, "spec.entries[0].reason"],
    ["Allow", { cidr: "0.0.0.0/0" }, "spec.entries[0].cidr: 0.0.0.0/0 is too broad for an Allow list: at most /8 for IPv4"],
    ["Allow", { cidr: "::/0" }, "spec.entries[0].cidr: ::/0 is too broad for an Allow list: at most /32 for IPv6"],
    ["Allow", { cidr: "10.0.0.0/7" }, "too broad"],
    ["Allow", { cidr: "2001:d00::/24" }, "too broad"],
  ])("%s %j → %s", (type, entry, message) => expect(refusal(banList(type, entry))).toContain(message));

  it.each([
    ["Allow", { cidr: "10.0.0.0/8" }],
    ["Allow", { cidr: "2001:db8::/32" }],
    ["Deny", { cidr: "0.0.0.0/1", reason: "a wide Deny is the operator's to choose; protections apply" }],
    ["Deny", { cidr: "203.0.113.0/24", reason: "Überprüfung: ünïcödé is fine" }],
  ])("accepts %s %j", (type, entry) => expect(parseResource(banList(type, entry)).ok).toBe(true));
});

describe("policy addresses follow the same rules", () => {
  const policy = (sources: string[]) => ({ apiVersion: "fleetwall.io/v1alpha1", kind: "FirewallPolicy", metadata: { name: "p" }, spec: { hostSelector: {}, ingress: [{ name: "a", action: "Allow", sources }] } });
  it.each([
    ["198.18.0.7/24", "spec.ingress[0].sources[0]: 198.18.0.7/24 has host bits set: did you mean 198.18.0.0/24?"],
    ["::ffff:198.18.0.0/120", "spec.ingress[0].sources[0]: ::ffff:198.18.0.0/120 is an IPv4-mapped IPv6 address"],
  ])("%s → %s", (source, message) => expect(refusal(policy([source]))).toContain(message));
  it("accepts networks and single addresses", () => expect(FirewallPolicy.safeParse(policy(["198.18.0.0/24", "198.18.0.7", "2001:db8::/64"])).success).toBe(true));
});

describe("bans add", () => {
  it("refuses a duration beyond 10 years (a date past any date once threw in the controller)", () => expect(BanAddRequest.safeParse({ cidr: "203.0.113.7", durationSeconds: 1e23, reason: "" }).error?.issues[0]?.path).toEqual(["durationSeconds"]));
  it("refuses a reason with control characters", () => expect(BanAddRequest.safeParse({ cidr: "203.0.113.7", durationSeconds: 60, reason: "a\u001b[31m" }).success).toBe(false));
});
