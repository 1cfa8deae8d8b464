import { readFileSync, readdirSync } from "node:fs";
import { pino } from "pino";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseResource } from "@fleetwall/api";
import { KubeSource, loadKubeConfig } from "@fleetwall/controller/kube";
import type { PolicySet } from "@fleetwall/controller";
import { startKubeApi, type KubeApi, type KubeObject } from "../harness/kube.js";
import { everyStatus } from "../harness/kube-statuses.js";
import { sh, waitFor } from "../harness/sh.js";

// The CRDs on a real API server (v1.24 from ../shared/kube, or KUBEBUILDER_ASSETS): what can never
// work is refused by `kubectl apply` itself, with the field named; every example is accepted; every
// status field the controller writes survives the server; and a misspelt field, which a 1.24 server
// would prune silently, is kept for the controller, which reports it and enforces nothing of it.

const REPO = new URL("../../", import.meta.url);
const V = "fleetwall.io/v1alpha1";

const policy = (name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: V, kind: "FirewallPolicy", metadata: { name }, spec: { hostSelector: {}, ...spec } });
const rule = (over: Record<string, unknown>) => ({ ingress: [{ name: "r", action: "Allow", ...over }] });
const banList = (name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: V, kind: "BanList", metadata: { name }, spec });
const jail = (over: Record<string, unknown>) => ({ name: "ssh", filter: "sshd", source: { journal: { unit: "ssh" } }, ...over });

/** [what, object, the field the server's message names, a word of the message] */
const REFUSED: [string, KubeObject, string, string][] = [
  ["a port above 65535", policy("p", rule({ protocol: "tcp", ports: [70000] })), "spec.ingress[0].ports[0]", "65535"],
  ["port 0", policy("p", rule({ protocol: "tcp", ports: [0] })), "spec.ingress[0].ports[0]", "greater than or equal to 1"],
  ["a text port above 65535", policy("p", rule({ protocol: "tcp", ports: ["70000"] })), "spec.ingress[0].ports[0]", "should match"],
  ["a range past 65535", policy("p", rule({ protocol: "tcp", ports: ["1-70000"] })), "spec.ingress[0].ports[0]", "should match"],
  ["an unknown service name", policy("p", rule({ protocol: "tcp", ports: ["sshh"] })), "spec.ingress[0].ports[0]", "should match"],
  ["a port with a leading zero", policy("p", rule({ protocol: "tcp", ports: ["022"] })), "spec.ingress[0].ports[0]", "should match"],
  ["a management port above 65535", policy("p", { managementPorts: [22, 65536] }), "spec.managementPorts[1]", "65535"],
  ["ports without tcp or udp", policy("p", rule({ protocol: "icmp", ports: [22] })), "spec.ingress[0]", "ports need protocol tcp or udp"],
  ["an IPv4 prefix of 33", policy("p", rule({ sources: ["10.0.0.0/33"] })), "spec.ingress[0].sources[0]", "should match"],
  ["an octet above 255", policy("p", rule({ sources: ["198.18.0.1", "300.1.1.1"] })), "spec.ingress[0].sources[1]", "should match"],
  ["an octal-looking octet", policy("p", rule({ sources: ["010.0.0.1"] })), "spec.ingress[0].sources[0]", "should match"],
  ["an IPv6 prefix of 129", policy("p", { egress: [{ name: "r", action: "Allow", destinations: ["2001:db8::/129"] }] }), "spec.egress[0].destinations[0]", "should match"],
  ["a host name for an address", policy("p", rule({ sources: ["db.example"] })), "spec.ingress[0].sources[0]", "should match"],
  ["an unknown action", policy("p", rule({ action: "Maybe" })), "spec.ingress[0].action", "Unsupported value"],
  ["an unknown protocol", policy("p", rule({ protocol: "sctp" })), "spec.ingress[0].protocol", "Unsupported value"],
  ["a rule name with capitals", policy("p", rule({ name: "Web_1" })), "spec.ingress[0].name", "should match"],
  ["an interface name with a space", policy("p", rule({ interface: "eth0 eth1" })), "spec.ingress[0].interface", "should match"],
  ["an ICMP type above 255", policy("p", rule({ protocol: "icmp", icmpTypes: [300] })), "spec.ingress[0].icmpTypes[0]", "255"],
  ["an unknown ICMP type name", policy("p", rule({ protocol: "icmp", icmpTypes: ["echo-requestt"] })), "spec.ingress[0].icmpTypes[0]", "should match"],
  ["icmpTypes without icmp", policy("p", rule({ protocol: "tcp", icmpTypes: [8] })), "spec.ingress[0]", "icmpTypes need protocol icmp or icmpv6"],
  ["a rate limit on a Deny rule", policy("p", rule({ action: "Deny", rateLimit: { newConnections: 3, perSeconds: 60 } })), "spec.ingress[0]", "rateLimit applies to Allow rules only"],
  ["a rate limit of 0", policy("p", rule({ rateLimit: { newConnections: 0, perSeconds: 60 } })), "spec.ingress[0].rateLimit.newConnections", "greater than or equal to 1"],
  ["a lowercase default", policy("p", { defaultInput: "drop" }), "spec.defaultInput", "Unsupported value"],
  ["an unknown mode", policy("p", { mode: "DryRun" }), "spec.mode", "Unsupported value"],
  ["a negative order", policy("p", { order: -1 }), "spec.order", "greater than or equal to 0"],
  ["an unknown ICMP preset", policy("p", { icmp: "Pong" }), "spec.icmp", "should match"],
  ["a log rate per fortnight", policy("p", { logDropped: { rate: "5/fortnight" } }), "spec.logDropped.rate", "should match"],
  ["no hostSelector", { apiVersion: V, kind: "FirewallPolicy", metadata: { name: "p" }, spec: { ingress: [] } }, "spec.hostSelector", "Required value"],
  ["a label key with a space", policy("p", { hostSelector: { matchLabels: { "team a": "x" } } }), "spec.hostSelector.matchLabels", "invalid label key"],
  ["a label value with a space", policy("p", { hostSelector: { matchLabels: { role: "web server" } } }), "spec.hostSelector.matchLabels.role", "should match"],
  ["a label value of 64 characters", policy("p", { hostSelector: { matchLabels: { role: "a".repeat(64) } } }), "spec.hostSelector.matchLabels.role", "may not be longer than 63"],
  ["an unknown selector operator", policy("p", { hostSelector: { matchExpressions: [{ key: "role", operator: "Contains", values: ["a"] }] } }), "spec.hostSelector.matchExpressions[0].operator", "Unsupported value"],
  ["In without values", policy("p", { hostSelector: { matchExpressions: [{ key: "role", operator: "In" }] } }), "spec.hostSelector.matchExpressions[0]", "need at least one value"],
  ["Exists with values", policy("p", { hostSelector: { matchExpressions: [{ key: "role", operator: "Exists", values: ["a"] }] } }), "spec.hostSelector.matchExpressions[0]", "take no values"],
  ["a bad selector key", policy("p", { hostSelector: { matchExpressions: [{ key: "-role", operator: "Exists" }] } }), "spec.hostSelector.matchExpressions[0].key", "should match"],
  ["two jails of one name", policy("p", { jails: [jail({}), jail({})] }), "spec", "jails: names must be unique"],
  ["a jail reading a file and the journal", policy("p", { jails: [jail({ source: { file: "/var/log/auth.log", journal: { unit: "ssh" } } })] }), "spec.jails[0].source", "give file or journal"],
  ["a journal source with neither unit nor identifier", policy("p", { jails: [jail({ source: { journal: {} } })] }), "spec.jails[0].source.journal", "needs a unit or an identifier"],
  ["a jail with maxRetry 0", policy("p", { jails: [jail({ maxRetry: 0 })] }), "spec.jails[0].maxRetry", "greater than or equal to 1"],
  ["a ban time of '1 hour'", policy("p", { jails: [jail({ banTime: "1 hour" })] }), "spec.jails[0].banTime", "should match"],
  ["a find time with its units out of order", policy("p", { jails: [jail({ findTime: "30m1h" })] }), "spec.jails[0].findTime", "should match"],
  ["a bare number for a duration", banList("b", { entries: [{ cidr: "203.0.113.7", duration: "3600" }] }), "spec.entries[0].duration", "should match"],
  ["an unknown built-in filter", policy("p", { jails: [jail({ filter: "sshd-paranoid" })] }), "spec.jails[0].filter", "Unsupported value"],
  ["a name that is no DNS name", policy("Web_Servers", {}), "metadata.name", "RFC 1123"],
  ["a ban of a bad address", banList("b", { entries: [{ cidr: "203.0.113.300" }] }), "spec.entries[0].cidr", "should match"],
  ["a ban with duration and expires", banList("b", { entries: [{ cidr: "203.0.113.7", duration: "1h", expires: "2030-01-01T00:00:00Z" }] }), "spec.entries[0]", "give duration or expires, not both"],
  ["a ban that expires 'tomorrow'", banList("b", { entries: [{ cidr: "203.0.113.7", expires: "tomorrow" }] }), "spec.entries[0].expires", "date-time"],
  ["a selector on one ban entry (once silently ignored)", banList("b", { entries: [{ cidr: "203.0.113.7", hostSelector: { matchLabels: { role: "db" } } }] }), "spec.entries[0]", "hostSelector: not supported"],
  ["an unknown list type", banList("b", { type: "Block" }), "spec.type", "Unsupported value"],
  ["a ban list selecting a bad label key", banList("b", { hostSelector: { matchLabels: { "a b": "x" } } }), "spec.hostSelector.matchLabels", "invalid label key"],
  // what an attacker review found the server let in (F5)
  ...["forever", "-1h", "10", "1.5h", "0s"].map((d): [string, KubeObject, string, string] => [`a ban duration of ${JSON.stringify(d)}`, banList("b", { entries: [{ cidr: "203.0.113.7", duration: d }] }), "spec.entries[0].duration", "should match"]),
  ["a jail findTime of forever", policy("p", { jails: [jail({ findTime: "forever" })] }), "spec.jails[0].findTime", "should match"],
  ["a jail banTime of -1h", policy("p", { jails: [jail({ banTime: "-1h" })] }), "spec.jails[0].banTime", "should match"],
  ["a jail's longest ban of 0s", policy("p", { jails: [jail({ banTimeIncrement: { factor: 2, max: "0s" } })] }), "spec.jails[0].banTimeIncrement.max", "should match"],
  ["a log rate of 0/second", policy("p", { logDropped: { rate: "0/second" } }), "spec.logDropped.rate", "should match"],
  ["an expiry in month 13", banList("b", { entries: [{ cidr: "203.0.113.7", expires: "2030-13-01T00:00:00Z" }] }), "spec.entries[0].expires", "date-time"],
  ["a label key prefix with two dots", policy("p", { hostSelector: { matchLabels: { "a..b/x": "y" } } }), "spec.hostSelector.matchLabels", "invalid label key"],
  ["a ban reason with a terminal escape", banList("b", { entries: [{ cidr: "203.0.113.7", reason: "\u001b[2J" }] }), "spec.entries[0].reason", "should match"],
];

/** Edges of what is valid, beside the examples: each must pass the server as it passes zod. */
const ACCEPTED: [string, KubeObject][] = [
  ["ports at both bounds, ranges and service names", policy("ok-ports", rule({ protocol: "tcp", ports: [1, 65535, "1", "65535", "1-65535", "9100-9100", "ssh", "node-exporter", "kube-apiserver"] }))],
  ["every address form", policy("ok-addresses", rule({ sources: ["0.0.0.0/0", "198.18.0.1", "198.18.0.0/24", "::/0", "::1", "2001:db8::/32", "2001:DB8:0:0:0:0:0:1/128", "64:ff9b::198.18.0.0/120", "1:2:3:4:5:6:7::"] }))],
  ["prefixed label keys, empty values and every operator", policy("ok-selector", { hostSelector: { matchLabels: { "fleetwall.io/role": "web", "app.kubernetes.io/part-of": "", tier: "a_b.c-d" }, matchExpressions: [{ key: "example.com/zone", operator: "In", values: ["a", "b"] }, { key: "x", operator: "NotIn", values: ["c"] }, { key: "y", operator: "Exists" }, { key: "z", operator: "DoesNotExist" }] } })],
  ["ICMP by number and by name, and the object form of icmp", policy("ok-icmp", { icmp: { preset: "Ping", types: ["echo-request"], rate: "10/second" }, ingress: [{ name: "ping", action: "Allow", protocol: "icmp", icmpTypes: [8, "echo-request"] }, { name: "nd", action: "Allow", protocol: "icmpv6", icmpTypes: ["nd-neighbor-solicit", 135] }] })],
  ["a jail on a file and one on the journal", policy("ok-jails", { jails: [jail({ name: "a", source: { file: "/var/log/auth.log" } }), jail({ name: "b", source: { journal: { identifier: "sshd" } } })] })],
  ["bans with a duration, an expiry, IPv6, and a selector on the list", banList("ok-bans", { hostSelector: { matchLabels: { role: "db" } }, entries: [{ cidr: "203.0.113.7", duration: "1h" }, { cidr: "2001:db8::/64", expires: "2030-01-01T00:00:00Z", reason: "scanner" }] })],
];

describe("the CRDs on a real API server", () => {
  let api: KubeApi;

  beforeAll(async () => {
    api = await startKubeApi();
    for (const f of readdirSync(new URL("crds/", REPO)).sort()) await api.applyYaml(readFileSync(new URL(`crds/${f}`, REPO), "utf8"));
  });

  afterAll(async () => {
    await api?.stop();
  });

  it.each(REFUSED)("refuses %s, naming the field (as zod does)", async (_, object, field, words) => {
    expect(parseResource(object).ok).toBe(false);
    const r = await api.tryApply(object);
    expect(r.status, JSON.stringify(r.body)).toBe(422);
    const message = String(r.body.message);
    expect(message).toContain(`${field}: `);
    expect(message).toContain(words);
    expect(await api.get(`/apis/${V}/${object.kind === "BanList" ? "banlists" : "firewallpolicies"}`, object.metadata.name)).toBeUndefined();
  });

  it.each(ACCEPTED)("accepts %s, as zod does", async (_, object) => {
    const r = await api.tryApply(object);
    expect(r.status, JSON.stringify(r.body?.message)).toBeLessThan(300);
    expect(parseResource(r.body)).toMatchObject({ ok: true });
  });

  it("kubectl apply itself refuses the issue's port 70000, naming the field (it used to say created)", async () => {
    await sh("bash", [new URL("scripts/helm.sh", REPO).pathname], { timeoutMs: 300_000 }); // fetches kubectl into .cache/helm
    const kubectl = (input: string) => sh(new URL(".cache/helm/kubectl", REPO).pathname, ["--kubeconfig", api.kubeconfig, "apply", "-f", "-"], { input }).then((out) => ({ ok: true, out }), (e: Error) => ({ ok: false, out: e.message }));
    const manifest = (port: number) => `apiVersion: ${V}\nkind: FirewallPolicy\nmetadata: {name: kubectl-port}\nspec:\n  hostSelector: {}\n  ingress:\n    - {name: node, action: Allow, protocol: tcp, ports: [${port}]}\n`;
    const refused = await kubectl(manifest(70000));
    expect(refused.ok).toBe(false);
    expect(refused.out).toContain("spec.ingress[0].ports[0]");
    expect(refused.out).toContain("65535");
    expect(await kubectl(manifest(9100))).toEqual({ ok: true, out: expect.stringContaining("created") });
  });

  const examples = readdirSync(new URL("examples/", REPO))
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => parseAllDocuments(readFileSync(new URL(`examples/${f}`, REPO), "utf8")).map((d) => [f, d.toJS() as KubeObject] as const))
    .filter(([, o]) => o?.kind);

  it.each(examples)("accepts examples/%s (%#) unchanged but for defaults", async (_, object) => {
    const r = await api.tryApply(object);
    expect(r.status, JSON.stringify(r.body?.message)).toBeLessThan(300);
    expect(r.body.spec).toMatchObject(object.spec as object);
  });

  it("keeps every status field the controller writes, of each kind, through the status subresource", async () => {
    const statuses = everyStatus();
    expect(new Set([...statuses.keys()].map((k) => k.split("/")[0]))).toEqual(new Set(["firewallpolicies", "banlists", "firewallhosts"]));
    for (const [key, status] of statuses) {
      const [plural, name] = key.split("/") as [string, string];
      const kind = { firewallpolicies: "FirewallPolicy", banlists: "BanList", firewallhosts: "FirewallHost" }[plural] as string;
      await api.apply({ apiVersion: V, kind, metadata: { name: `st-${name}` }, spec: kind === "FirewallPolicy" ? { hostSelector: {} } : {} });
      // as the controller writes it (kube-source.ts): a merge patch of the status subresource
      const w = await api.request("PATCH", `/apis/${V}/${plural}/st-${name}/status`, { status }, { contentType: "application/merge-patch+json" });
      expect(w.status, JSON.stringify(w.body)).toBe(200);
      const back = await api.get(`/apis/${V}/${plural}`, `st-${name}`);
      expect(back?.status, key).toEqual(status);
    }
  });

  describe("a misspelt field on a server that prunes unknown fields (1.24)", () => {
    let source: KubeSource;
    let set: PolicySet | undefined;
    const GOOD = rule({ protocol: "tcp", ports: [9100], sources: ["203.0.113.0/24"] });
    // the typo: pruned, `sorces` would leave port 9100 open to every address
    const TYPO = { defaultinput: "Accept", ingress: [{ name: "r", action: "Allow", protocol: "tcp", ports: [9100], sorces: ["203.0.113.0/24"] }] };

    beforeAll(async () => {
      source = new KubeSource({
        kubeconfig: loadKubeConfig(api.kubeconfig),
        relistMs: 600_000,
        log: pino({ level: "silent" }),
        onPolicies: (s) => (set = s),
        onHostLabels: () => undefined,
      });
      await source.start();
    });

    afterAll(async () => {
      await source?.stop();
    });

    const errorsOf = (name: string) => set?.errors.filter((e) => e.name === name).flatMap((e) => e.errors) ?? [];
    const specOf = (name: string) => set?.policies.find((p) => p.metadata.name === name)?.spec;

    it("is kept by the server, so the controller can see it", async () => {
      const stored = await api.apply(policy("typo-new", TYPO));
      expect(stored.spec).toMatchObject({ defaultinput: "Accept", ingress: [{ sorces: ["203.0.113.0/24"] }] });
    });

    it("in a new policy: the controller reports each field by name and enforces nothing of it", async () => {
      await waitFor("the new policy judged", () => errorsOf("typo-new").length > 0, 60_000, 50);
      expect(errorsOf("typo-new")).toEqual(expect.arrayContaining(["spec.defaultinput: unknown field (did you mean defaultInput?)", "spec.ingress[0].sorces: unknown field (did you mean sources?)"]));
      expect(specOf("typo-new")).toBeUndefined();
    });

    it("in an edit of a working policy: the last valid version stays in force", async () => {
      await api.apply(policy("typo-edit", GOOD));
      await waitFor("the valid version in force", () => specOf("typo-edit") !== undefined, 60_000, 50);
      await api.apply(policy("typo-edit", TYPO));
      await waitFor("the edit judged", () => errorsOf("typo-edit").length > 0, 60_000, 50);
      expect(errorsOf("typo-edit")).toContain("spec.ingress[0].sorces: unknown field (did you mean sources?)");
      expect(specOf("typo-edit")).toMatchObject({ defaultInput: "Drop", ingress: [{ name: "r", ports: [9100], sources: ["203.0.113.0/24"] }] });
    });

    it("in a ban list: reported as the BanList's error, by name", async () => {
      const stored = await api.apply(banList("typo-bans", { entries: [{ cidr: "203.0.113.9", resaon: "scanner", duraton: "1h" }] }));
      expect(stored.spec).toMatchObject({ entries: [{ resaon: "scanner", duraton: "1h" }] });
      await waitFor("the ban list judged", () => errorsOf("typo-bans").length > 0, 60_000, 50);
      expect(set?.errors.find((e) => e.name === "typo-bans")?.kind).toBe("BanList");
      // the server stores keys sorted, so the fields come in that order
      expect(errorsOf("typo-bans")).toEqual(["spec.entries[0]: unknown fields: duraton (did you mean duration?), resaon (did you mean reason?); known fields: cidr, reason, duration, expires"]);
      expect(set?.banLists.map((l) => l.metadata.name)).not.toContain("typo-bans");
    });
  });
});
