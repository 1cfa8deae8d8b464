import { describe, expect, it } from "vitest";
import { LabelKey, matchesSelector, parseLabelList, type LabelSelector } from "./index.js";

describe("matchesSelector (Kubernetes semantics)", () => {
  const labels = { role: "web", zone: "b" };
  it.each<[LabelSelector | undefined, boolean]>([
    [undefined, true],
    [{}, true],
    [{ matchLabels: { role: "web" } }, true],
    [{ matchLabels: { role: "db" } }, false],
    [{ matchLabels: { role: "web", zone: "a" } }, false],
    [{ matchExpressions: [{ key: "zone", operator: "In", values: ["a", "b"] }] }, true],
    [{ matchExpressions: [{ key: "zone", operator: "NotIn", values: ["b"] }] }, false],
    [{ matchExpressions: [{ key: "tier", operator: "NotIn", values: ["x"] }] }, true],
    [{ matchExpressions: [{ key: "tier", operator: "Exists" }] }, false],
    [{ matchExpressions: [{ key: "tier", operator: "DoesNotExist" }] }, true],
    [{ matchLabels: { role: "web" }, matchExpressions: [{ key: "zone", operator: "Exists" }] }, true],
  ])("%j → %s", (selector, expected) => {
    expect(matchesSelector(selector, labels)).toBe(expected);
  });
});

describe("parseLabelList", () => {
  it("parses k=v pairs", () => expect(parseLabelList("role=web, zone=b")).toEqual({ role: "web", zone: "b" }));
  it("accepts an empty list", () => expect(parseLabelList("")).toEqual({}));
  it.each(["role", "=web", "role=we b"])("rejects %j", (text) => expect(() => parseLabelList(text)).toThrow());
});

describe("label keys: the prefix is a DNS-1123 subdomain", () => {
  it.each(["a..b/x", ".a/x", "a./x", "-a/x", "A.b/x", "a_b/x", `${"a".repeat(64)}.b/x`])("refuses %s", (key) => expect(LabelKey.safeParse(key).success).toBe(false));
  it.each(["x", "a.b/x", "fleetwall.io/role", "app.kubernetes.io/part-of", `${"a".repeat(63)}.b/x`])("accepts %s", (key) => expect(LabelKey.safeParse(key).success).toBe(true));
});
