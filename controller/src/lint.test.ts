import { describe, expect, it } from "vitest";
import { FirewallPolicy } from "@fleetwall/api";
import { lintPolicy } from "./lint.js";

const p = (spec: Record<string, unknown>) =>
  FirewallPolicy.parse({ apiVersion: "fleetwall.io/v1alpha1", kind: "FirewallPolicy", metadata: { name: "p" }, spec: { hostSelector: {}, ...spec } });

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
