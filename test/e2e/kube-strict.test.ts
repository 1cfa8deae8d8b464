import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFleet, REPO, type Fleet, type FleetHost } from "../harness/fleet.js";
import { startKubeApi, type KubeApi, type KubeObject } from "../harness/kube.js";
import { attacker } from "../harness/netns.js";
import { waitFor } from "../harness/sh.js";

// A misspelt field on a real Kubernetes 1.24 API server, as it runs by default (CEL off, unknown
// fields of a structural schema pruned silently), with the controller and a fleet's kernels: the
// CRDs keep the field, the controller stalls the object naming it, and nothing of it is enforced.
// Pruned, `sorces` would have opened port 9100 to every address (issue #17).
const FWP = "/apis/fleetwall.io/v1alpha1/firewallpolicies";
const BL = "/apis/fleetwall.io/v1alpha1/banlists";
const LEASE_NS = "fleetwall-test";
const ATTACKER = attacker(1);

type Cond = { type: string; status: string; reason: string; message: string };

const policy = (name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: "fleetwall.io/v1alpha1", kind: "FirewallPolicy", metadata: { name }, spec: { hostSelector: {}, ...spec } });
const metrics = (field: "sources" | "sorces", typo: boolean) =>
  policy("metrics", { order: 10, ...(typo ? { defaultinput: "Accept" } : {}), ingress: [{ name: "node-exporter", action: "Allow", protocol: "tcp", ports: [9100], [field]: ["203.0.113.0/24"] }] });

describe("a misspelt field on a real 1.24 API server, enforced by a fleet", () => {
  let fleet: Fleet;
  let api: KubeApi;
  let web: FleetHost;

  const condition = async (path: string, name: string, type: string) => ((await api.get(path, name))?.status as { conditions?: Cond[] } | undefined)?.conditions?.find((c) => c.type === type);
  const open = async (targets: string[]) => Object.values(await fleet.probe(targets));

  beforeAll(async () => {
    api = await startKubeApi({ cel: false });
    for (const f of readdirSync(join(REPO, "crds"))) await api.applyYaml(readFileSync(join(REPO, "crds", f), "utf8"));
    await api.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: LEASE_NS } });
    fleet = await createFleet([{ id: "web-1", labels: "role=web" }], { attackers: 1 });
    [web] = fleet.hosts as [FleetHost];
    await fleet.listen(["tcp:8081", "tcp:9100"]);
    await fleet.startController(["--source", "kube", "--kubeconfig", api.kubeconfig, "--lease-namespace", LEASE_NS, "--lease-duration", "6s", "--lease-retry", "500ms", "--status-interval", "200ms"]);
    fleet.startAgent(web);
    await api.apply(policy("base", { order: 100, defaultInput: "Drop", ingress: [{ name: "ssh", action: "Allow", protocol: "tcp", ports: ["ssh"] }, { name: "web", action: "Allow", protocol: "tcp", ports: [8081] }] }));
    // Ready alone is true for 0 of 0 selected hosts, before the agent has registered
    await waitFor("base applied on the host", async () => {
      const st = (await api.get(FWP, "base"))?.status as { appliedHosts?: number; conditions?: Cond[] } | undefined;
      return st?.appliedHosts === 1 && st.conditions?.find((c) => c.type === "Ready")?.status === "True";
    }, 60_000, 200);
    await fleet.waitInSync(30_000);
  }, 180_000);

  afterAll(async () => {
    await fleet?.destroy();
    await api?.stop();
  });

  it("starts with 8081 open and 9100 closed to everyone", async () => {
    expect(await open([`tcp:${web.ip4}:8081`, `tcp:${web.ip4}:9100`, `tcp:${web.ip4}:9100@${ATTACKER}`])).toEqual([true, false, false]);
  });

  it("keeps the misspelt fields, stalls the policy naming them, and leaves 9100 closed", async () => {
    const stored = await api.apply(metrics("sorces", true));
    expect(stored.spec).toMatchObject({ defaultinput: "Accept", ingress: [{ sorces: ["203.0.113.0/24"] }] });
    await waitFor("metrics Invalid", async () => (await condition(FWP, "metrics", "Ready"))?.reason === "Invalid", 60_000, 100);
    const ready = await condition(FWP, "metrics", "Ready");
    expect(ready?.message).toContain("spec.ingress[0].sorces: unknown field (did you mean sources?)");
    expect(ready?.message).toContain("spec.defaultinput: unknown field (did you mean defaultInput?)");
    expect((await condition(FWP, "metrics", "Stalled"))?.status).toBe("True");
    await fleet.waitInSync(30_000);
    expect(await open([`tcp:${web.ip4}:9100`, `tcp:${web.ip4}:9100@${ATTACKER}`])).toEqual([false, false]);
  });

  it("spelt right, the rule opens 9100 to 203.0.113.0/24 only (so the check above could have seen it open)", async () => {
    await api.apply(metrics("sources", false));
    await waitFor("metrics Ready", async () => (await condition(FWP, "metrics", "Ready"))?.status === "True", 60_000, 100);
    await waitFor("9100 open to the attacker range", async () => (await open([`tcp:${web.ip4}:9100@${ATTACKER}`]))[0] === true, 30_000, 200);
    expect(await open([`tcp:${web.ip4}:9100`])).toEqual([false]);
  });

  it("a BanList entry's hostSelector, which this server cannot refuse without CEL, stalls the list and bans no one", async () => {
    await api.apply({ apiVersion: "fleetwall.io/v1alpha1", kind: "BanList", metadata: { name: "db-only" }, spec: { entries: [{ cidr: ATTACKER, hostSelector: { matchLabels: { role: "db" } } }] } });
    await waitFor("db-only Invalid", async () => (await condition(BL, "db-only", "Ready"))?.reason === "Invalid", 60_000, 100);
    expect((await condition(BL, "db-only", "Ready"))?.message).toMatch(/spec\.entries\[0\]\.hostSelector: not supported: /);
    expect((await condition(BL, "db-only", "Stalled"))?.status).toBe("True");
    // a list the controller takes is banned within a second or two; this one, never
    await api.apply({ apiVersion: "fleetwall.io/v1alpha1", kind: "BanList", metadata: { name: "marker" }, spec: { entries: [{ cidr: attacker(2) }] } });
    await waitFor("the marker ban in force", async () => (await condition(BL, "marker", "Ready"))?.status === "True" && (await fleet.status()).hosts[0]?.activeBans === 1, 30_000, 200);
    expect(await open([`tcp:${web.ip4}:8081@${ATTACKER}`])).toEqual([true]);
  });

  it("a jail regex the agents would refuse, which no schema can see, makes the policy Invalid naming the field, and opens nothing", async () => {
    const hand = (regex: string) => policy("hand", { order: 5, ingress: [{ name: "all-9100", action: "Allow", protocol: "tcp", ports: [9100] }], jails: [{ name: "x", source: { file: "/var/log/x.log" }, datePattern: "{^LN-BEG}", failRegex: [regex] }] });
    await api.apply(hand("limiting (requests client: <HOST>,"));
    await waitFor("hand Invalid", async () => (await condition(FWP, "hand", "Ready"))?.reason === "Invalid", 60_000, 100);
    expect((await condition(FWP, "hand", "Ready"))?.message).toContain("spec.jails[0].failRegex[0]: does not parse: Unterminated group");
    expect((await condition(FWP, "hand", "Stalled"))?.status).toBe("True");
    await fleet.waitInSync(30_000);
    expect(await open([`tcp:${web.ip4}:9100`])).toEqual([false]);
    // fixed, the same policy is taken and opens 9100 to everyone (so the check above could have seen it open)
    await api.apply(hand("limiting requests client: <HOST>,"));
    await waitFor("hand Ready", async () => (await condition(FWP, "hand", "Ready"))?.status === "True", 60_000, 100);
    await waitFor("9100 open", async () => (await open([`tcp:${web.ip4}:9100`]))[0] === true, 30_000, 200);
  });
});
