import { describe, expect, it } from "vitest";
import { FirewallPolicy } from "@fleetwall/api";
import { lastGoodKey, planLastGood, resourceText } from "./last-good.js";

const policy = (name: string, port: number) => FirewallPolicy.parse({ apiVersion: "fleetwall.io/v1alpha1", kind: "FirewallPolicy", metadata: { name }, spec: { hostSelector: {}, ingress: [{ name: "r", action: "Allow", protocol: "tcp", ports: [port] }] } });

describe("planLastGood", () => {
  it("writes new and changed versions, removes what is no longer in force, and leaves the rest", () => {
    const a = policy("a", 22);
    const b = policy("b", 80);
    const stored = new Map([[lastGoodKey(a), JSON.stringify(a)], [lastGoodKey(b), JSON.stringify(policy("b", 81))], ["FirewallPolicy.gone", "{}"]]);
    const plan = planLastGood(stored, [a, b, policy("c", 443)]);
    expect(plan.puts.map((p) => p.key)).toEqual(["FirewallPolicy.b", "FirewallPolicy.c"]);
    expect(JSON.parse(plan.puts[0]?.text ?? "")).toEqual(b);
    expect(plan.deletes).toEqual(["FirewallPolicy.gone"]);
    expect(planLastGood(new Map(plan.puts.map((p) => [p.key, p.text]).concat([[lastGoodKey(a), JSON.stringify(a)]]) as [string, string][]), [a, b, policy("c", 443)])).toEqual({ puts: [], deletes: [] });
  });
});

describe("the text a last-good version is stored as", () => {
  it("reads back as the resource, whatever the order of its fields", () => {
    const a = policy("a", 22);
    const { spec, ...rest } = a;
    expect(JSON.parse(resourceText(rest, JSON.stringify(spec)))).toEqual(a);
  });
});
