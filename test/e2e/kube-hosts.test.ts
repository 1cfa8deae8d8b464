import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFleet, REPO, type Fleet, type FleetHost } from "../harness/fleet.js";
import { startKubeApi, type KubeApi, type KubeObject } from "../harness/kube.js";
import { waitFor } from "../harness/sh.js";

// Host lifecycle with the Kubernetes source, on a real kube-apiserver (test/harness/kube.ts) with a
// real fleet (agents heartbeat every 1 s, so a host is stale after 3 s of silence): an agent killed
// with SIGKILL makes its FirewallHost Ready/InSync False with reason Stale and drops out of its
// policies' appliedHosts; a corrupt proposed-labels annotation is repaired, not a patch failing
// forever; deleting a FirewallHost (kubectl delete) is how a host is forgotten, and `fleetwall hosts
// delete` says so. The pure rules: kube-status.test.ts, kube-host-labels.test.ts, kube-hosts.test.ts.
const FWP = "/apis/fleetwall.io/v1alpha1/firewallpolicies";
const FWH = "/apis/fleetwall.io/v1alpha1/firewallhosts";
const LEASE_NS = "fleetwall-test";
const PROPOSED = "fleetwall.io/proposed-labels";

type Cond = { type: string; status: string; reason: string; message: string };
type Status = Record<string, unknown> & { conditions?: Cond[] };

describe("host lifecycle in Kubernetes, on a real API server", () => {
  let fleet: Fleet;
  let api: KubeApi;
  let h1: FleetHost;
  let h2: FleetHost;
  const nats = () => ["--nats", fleet.nats.url];
  const status = async (path: string, name: string) => (await api.get(path, name))?.status as Status | undefined;
  const condition = async (path: string, name: string, type: string) => (await status(path, name))?.conditions?.find((c) => c.type === type);
  const controllerLog = () => fleet.controller?.log() ?? "";

  beforeAll(async () => {
    api = await startKubeApi({ cel: false });
    for (const f of readdirSync(join(REPO, "crds"))) await api.applyYaml(readFileSync(join(REPO, "crds", f), "utf8"));
    await api.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: LEASE_NS } });
    fleet = await createFleet([
      { id: "h1", labels: "role=web" },
      { id: "h2", labels: "role=web" },
    ]);
    [h1, h2] = fleet.hosts as [FleetHost, FleetHost];
    await fleet.startController(["--source", "kube", "--kubeconfig", api.kubeconfig, "--lease-namespace", LEASE_NS, "--lease-duration", "6s", "--lease-retry", "500ms", "--status-interval", "200ms", "--identity", "ctl"]);
    for (const h of fleet.hosts) fleet.startAgent(h);
    const policy: KubeObject = { apiVersion: "fleetwall.io/v1alpha1", kind: "FirewallPolicy", metadata: { name: "web" }, spec: { defaultInput: "Accept", hostSelector: { matchLabels: { role: "web" } }, ingress: [{ name: "deny", action: "Reject", protocol: "tcp", ports: [8089] }] } };
    await api.apply(policy);
    await waitFor("the policy applied on both hosts", async () => (await status(FWP, "web"))?.appliedHosts === 2 && (await condition(FWP, "web", "Ready"))?.status === "True", 90_000, 250);
  }, 240_000);

  afterAll(async () => {
    await fleet?.destroy();
    await api?.stop();
  });

  it("a corrupt proposed-labels annotation is replaced with the agent's proposal, with one line naming it and the host", async () => {
    await waitFor("h2's FirewallHost", async () => !!(await api.get(FWH, "h2")), 30_000, 200);
    await api.request("PATCH", `${FWH}/h2`, { metadata: { annotations: { [PROPOSED]: "{oops" } } }, { contentType: "application/merge-patch+json" });
    // the agent proposes new labels at its next start
    await h2.agent?.kill();
    h2.labels = "role=web,tier=edge";
    fleet.startAgent(h2);
    await waitFor("h2's new label applied", async () => (await api.get(FWH, "h2"))?.metadata.labels?.tier === "edge", 60_000, 250);
    const fwh = await api.get(FWH, "h2");
    expect(fwh?.metadata.labels).toMatchObject({ role: "web", tier: "edge" });
    expect(JSON.parse((fwh?.metadata.annotations as Record<string, string>)[PROPOSED] ?? "")).toEqual({ role: "web", tier: "edge" });
    const lines = controllerLog().split("\n").filter((l) => l.includes("FirewallHost annotation unreadable"));
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines[0]).toContain(PROPOSED);
    expect(lines[0]).toContain('"host":"h2"');
    expect(controllerLog()).not.toContain("Expected property name");
  }, 120_000);

  it("an agent killed with SIGKILL: its FirewallHost becomes Ready/InSync False with reason Stale, and its policy's appliedHosts drops", async () => {
    await waitFor("h1 and h2 in sync", async () => (await condition(FWH, "h1", "InSync"))?.status === "True" && (await condition(FWH, "h2", "InSync"))?.status === "True", 60_000, 250);
    await waitFor("the policy applied on both hosts", async () => (await status(FWP, "web"))?.appliedHosts === 2, 60_000, 250);
    process.kill(h1.agent?.child.pid as number, "SIGKILL");
    await h1.agent?.exited;
    // stale after 3 heartbeats (3 s); the status writer runs every 200 ms: generous for a loaded machine
    await waitFor("h1's FirewallHost Stale", async () => (await condition(FWH, "h1", "Ready"))?.reason === "Stale", 30_000, 250);
    const conds = (await status(FWH, "h1"))?.conditions ?? [];
    expect(conds.find((c) => c.type === "Ready")).toMatchObject({ status: "False", reason: "Stale" });
    expect(conds.find((c) => c.type === "Ready")?.message).toMatch(/^last seen at \d{4}-/);
    expect(conds.find((c) => c.type === "InSync")).toMatchObject({ status: "False", reason: "Stale" });
    await waitFor("the policy counts h1 out", async () => (await status(FWP, "web"))?.appliedHosts === 1, 30_000, 250);
    expect(await condition(FWP, "web", "Ready")).toMatchObject({ status: "False", reason: "HostsStale" });
    expect((await condition(FWP, "web", "Degraded"))?.message).toContain("h1: stale");
    // the live host is untouched
    expect(await condition(FWH, "h2", "Ready")).toMatchObject({ status: "True" });
  }, 120_000);

  it("`fleetwall hosts delete` names kubectl; deleting a stale host's FirewallHost forgets the host, and it stays deleted", async () => {
    await expect(fleet.cli(["hosts", "delete", "h1", ...nats()])).rejects.toThrow(/kubectl delete firewallhost h1/);
    await api.delete(FWH, "h1");
    await waitFor("h1 forgotten", async () => !(await fleet.status()).hosts.some((h) => h.id === "h1"), 30_000, 250);
    expect(controllerLog()).toContain("FirewallHost deleted; host forgotten");
    await waitFor("the policy selects only h2", async () => (await status(FWP, "web"))?.selectedHosts === 1 && (await condition(FWP, "web", "Ready"))?.status === "True", 30_000, 250);
    expect(await status(FWP, "web")).toMatchObject({ selectedHosts: 1, appliedHosts: 1 });
    expect(await api.get(FWH, "h1")).toBeUndefined();
  }, 120_000);

  it("deleting the FirewallHost of a host whose agent still reports creates it again, and says to stop the agent first", async () => {
    await api.delete(FWH, "h2");
    await waitFor("h2's FirewallHost back", async () => !!(await api.get(FWH, "h2")), 30_000, 250);
    expect(controllerLog()).toContain("FirewallHost deleted while its agent still reports");
    expect((await fleet.status()).hosts.map((h) => h.id)).toEqual(["h2"]);
    expect((await api.get(FWH, "h2"))?.metadata.labels).toMatchObject({ role: "web", tier: "edge" });
  }, 120_000);
});
