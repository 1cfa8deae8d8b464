import { describe, expect, it } from "vitest";
import { FirewallPolicy } from "@fleetwall/api";
import { lintPolicies, lintPolicy } from "./lint.js";

const p = (spec: Record<string, unknown>, name = "p") =>
  FirewallPolicy.parse({ apiVersion: "fleetwall.io/v1alpha1", kind: "FirewallPolicy", metadata: { name }, spec: { hostSelector: {}, ...spec } });

describe("lockout lint", () => {
  it.each<[string, Record<string, unknown>, boolean]>([
    ["drop with nothing open", { ingress: [{ name: "web", action: "Allow", protocol: "tcp", ports: [443] }] }, true],
    ["drop with ssh open", { ingress: [{ name: "ssh", action: "Allow", protocol: "tcp", ports: ["ssh"] }] }, false],
    ["drop with ssh open to an admin network", { ingress: [{ name: "ssh", action: "Allow", protocol: "tcp", ports: [22], sources: ["198.18.0.0/24"] }] }, false],
    ["drop with a range covering 22", { ingress: [{ name: "low", action: "Allow", ports: ["1-1024"] }] }, false],
    ["ssh only denied", { ingress: [{ name: "ssh", action: "Deny", protocol: "tcp", ports: [22] }] }, true],
    ["ssh over udp only", { ingress: [{ name: "ssh", action: "Allow", protocol: "udp", ports: [22] }] }, true],
    ["declared management port open", { managementPorts: [2222], ingress: [{ name: "m", action: "Allow", protocol: "tcp", ports: [2222] }] }, false],
    ["reject default", { defaultInput: "Reject" }, true],
    ["accept default", { defaultInput: "Accept" }, false],
    ["audit mode", { mode: "Audit" }, false],
  ])("%s", (_name, spec, flagged) => {
    const warnings = lintPolicy(p(spec));
    expect(warnings.length > 0).toBe(flagged);
    if (flagged) expect(warnings[0]).toMatch(/^spec\.ingress: defaultInput is (Drop|Reject) and no Allow rule opens a management port/);
  });
});

describe("lockout lint across the policies of a directory", () => {
  const jails = (selector: Record<string, unknown>) => p({ hostSelector: selector, jails: [{ name: "sshd", filter: "sshd", source: { file: "/var/log/auth.log" } }] }, "jails");
  const web = (spec: Record<string, unknown> = {}) => p({ hostSelector: { matchLabels: { role: "web" } }, ingress: [{ name: "ssh", action: "Allow", protocol: "tcp", ports: [22] }], ...spec }, "web");

  it("does not warn on a jail-only policy when another Enforce policy on at least its hosts opens SSH", () => {
    expect([...lintPolicies([jails({ matchLabels: { role: "web", zone: "b" } }), web()]).keys()]).toEqual([]);
    expect([...lintPolicies([jails({ matchLabels: { role: "web" } }), web()]).keys()]).toEqual([]);
  });

  it("still warns when the policy that opens SSH selects fewer hosts, is in audit mode, or opens another port", () => {
    // every host, SSH opened on role=web only: the db hosts get Drop and nothing open
    expect([...lintPolicies([jails({}), web()]).keys()]).toEqual(["jails"]);
    expect([...lintPolicies([jails({ matchLabels: { role: "web" } }), web({ mode: "Audit" })]).keys()]).toEqual(["jails"]);
    expect([...lintPolicies([jails({ matchLabels: { role: "web" } }), web({ ingress: [{ name: "h", action: "Allow", protocol: "tcp", ports: [443] }] })]).keys()]).toEqual(["jails", "web"]);
    expect([...lintPolicies([jails({ matchLabels: { role: "web" } }), web({ hostSelector: { matchExpressions: [{ key: "role", operator: "Exists" }] } })]).keys()]).toEqual(["jails"]);
  });

  it("says what the strictest default means and how an add-on policy avoids it", () => {
    expect(lintPolicies([jails({})]).get("jails")?.[0]).toMatch(/strictest default wins.*sets defaultInput: Accept/);
  });
});
