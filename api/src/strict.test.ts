import { describe, expect, it } from "vitest";
import { z } from "zod";
import { didYouMean, formatIssues, parseResource, strictObject } from "./index.js";

const policy = (spec: Record<string, unknown>, top: Record<string, unknown> = {}) => ({
  apiVersion: "fleetwall.io/v1alpha1",
  kind: "FirewallPolicy",
  metadata: { name: "p" },
  spec: { hostSelector: {}, ...spec },
  ...top,
});
const banList = (spec: Record<string, unknown>) => ({ apiVersion: "fleetwall.io/v1alpha1", kind: "BanList", metadata: { name: "b" }, spec });
const errorsOf = (doc: unknown) => {
  const r = parseResource(doc);
  return r.ok ? [] : r.errors;
};

describe("didYouMean", () => {
  it.each([
    ["defaultinput", "defaultInput"],
    ["sorces", "sources"],
    ["sepc", "spec"],
    ["protocl", "protocol"],
    ["matchlabels", "matchLabels"],
    ["hostselector", "hostSelector"],
    ["xyz", undefined],
    ["a", undefined],
  ])("%s → %s", (key, expected) => {
    expect(didYouMean(key, ["defaultInput", "sources", "spec", "protocol", "matchLabels", "hostSelector", "ports"])).toBe(expected);
  });
});

describe("unknown fields are errors that name the field", () => {
  it.each([
    // the issue's typos: with these dropped, port 9100 was reachable from anywhere
    [policy({ defaultinput: "Accept" }), "spec.defaultinput: unknown field (did you mean defaultInput?)"],
    [policy({ ingress: [{ name: "a", action: "Allow", protocol: "tcp", ports: [9100], sorces: ["203.0.113.0/24"] }] }), "spec.ingress[0].sorces: unknown field (did you mean sources?)"],
    [policy({ egress: [{ name: "a", action: "Allow", protocl: "tcp" }] }), "spec.egress[0].protocl: unknown field (did you mean protocol?)"],
    [policy({ hostSelector: { matchlabels: { role: "db" } } }), "spec.hostSelector.matchlabels: unknown field (did you mean matchLabels?)"],
    [policy({ hostSelector: { matchExpressions: [{ key: "role", operator: "In", value: ["db"] }] } }), "spec.hostSelector.matchExpressions[0].value: unknown field (did you mean values?)"],
    [policy({ ingress: [{ name: "a", action: "Allow", rateLimit: { newConnections: 3, perSecond: 60 } }] }), "spec.ingress[0].rateLimit.perSecond: unknown field (did you mean perSeconds?)"],
    [policy({ baseline: { loopbak: false } }), "spec.baseline.loopbak: unknown field (did you mean loopback?)"],
    [policy({ icmp: { preset: "Ping", typs: ["echo-request"] } }), "spec.icmp.typs: unknown field (did you mean types?)"],
    [policy({ logDropped: { prefx: "x" } }), "spec.logDropped.prefx: unknown field (did you mean prefix?)"],
    [policy({ jails: [{ name: "j", filter: "sshd", source: { journal: { unit: "ssh" } }, maxretry: 3 }] }), "spec.jails[0].maxretry: unknown field (did you mean maxRetry?)"],
    [policy({ jails: [{ name: "j", filter: "sshd", source: { journal: { unit: "ssh", idenifier: "sshd" } } }] }), "spec.jails[0].source.journal.idenifier: unknown field (did you mean identifier?)"],
    [policy({ jails: [{ name: "j", filter: "sshd", source: { journal: { unit: "ssh" } }, banTimeIncrement: { factor: 2, max: "1d", maximum: "2d" } }] }), "spec.jails[0].banTimeIncrement.maximum: unknown field (known fields: factor, max)"],
    [policy({}, { sepc: {} }), "sepc: unknown field (did you mean spec?)"],
    [banList({ entries: [{ cidr: "203.0.113.7", resaon: "scanner" }] }), "spec.entries[0].resaon: unknown field (did you mean reason?)"],
    [banList({ typ: "Allow" }), "spec.typ: unknown field (did you mean type?)"],
    // a key that is not a plain name is quoted, so the path stays readable and exact
    [policy({ baseline: { "loop back": true } }), 'spec.baseline["loop back"]: unknown field (did you mean loopback?)'],
    [policy({ "hostSelector.matchLabels": {} }), 'spec["hostSelector.matchLabels"]: unknown field (known fields: hostSelector, order, mode, defaultInput, defaultOutput, baseline, icmp, logDropped, managementPorts, ingress, egress, jails)'],
  ])("%j → %s", (doc, expected) => {
    expect(errorsOf(doc)).toContain(expected);
  });

  it("lists several unknown fields of one object, each with its guess, and the known ones", () => {
    expect(errorsOf(policy({ defaultinput: "Accept", colour: "red" }))).toEqual([
      "spec: unknown fields: defaultinput (did you mean defaultInput?), colour; known fields: hostSelector, order, mode, defaultInput, defaultOutput, baseline, icmp, logDropped, managementPorts, ingress, egress, jails",
    ]);
  });

  it("refuses a BanList entry's hostSelector with the reason, not as unknown (it was silently dropped: a db-only entry was banned everywhere)", () => {
    const errors = errorsOf(banList({ entries: [{ cidr: "203.0.113.7", hostSelector: { matchLabels: { role: "db" } } }] }));
    expect(errors).toEqual([expect.stringMatching(/^spec\.entries\[0\]\.hostSelector: not supported: .*BanList of their own with spec\.hostSelector$/)]);
  });

  it("keeps a BanList's own hostSelector, which agents honour", () => {
    expect(parseResource(banList({ hostSelector: { matchLabels: { role: "db" } }, entries: [{ cidr: "203.0.113.7" }] })).ok).toBe(true);
  });

  it("leaves metadata open: the API server adds fields of its own", () => {
    expect(parseResource(policy({}, { metadata: { name: "p", uid: "u", managedFields: [{ manager: "kubectl" }] } })).ok).toBe(true);
  });

  it("reports the branch of a union the input meant, not 'Invalid input'", () => {
    expect(errorsOf(policy({ ingress: [{ name: "a", action: "Allow", ports: [true] }] }))).toEqual(["spec.ingress[0].ports[0]: expected number or string"]);
    expect(errorsOf(policy({ icmp: "Pong" }))).toEqual([expect.stringMatching(/^spec\.icmp: .*"Essential"\|"Ping"\|"All"\|"None"/)]);
  });

  it("a strict object of one's own says the same", () => {
    const r = z.object({ inner: strictObject({ name: z.string().optional() }) }).safeParse({ inner: { nmae: "x" } });
    expect(r.success).toBe(false);
    if (!r.success) expect(formatIssues(r.error)).toEqual(["inner.nmae: unknown field (did you mean name?)"]);
  });
});
