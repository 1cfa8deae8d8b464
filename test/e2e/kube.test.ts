import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFleet, type Fleet, type FleetHost } from "../harness/fleet.js";
import { freePort } from "../harness/nats.js";
import { startFakeKubeApi, type FakeKubeApi, type KubeObject } from "../harness/kube-api.js";
import { waitFor } from "../harness/sh.js";

// The controller on the Kubernetes API (a small in-repo API server speaking the list/watch protocol,
// with @kubernetes/client-node unmodified as the client) and a real fleet: FirewallHosts appear for
// agents, policies apply and their status tells the truth, labels select, invalid specs stall, the
// informers survive dropped watches, 410 Gone and a failing API server, and a standby replica takes
// over when the leader dies.
const LEASES = "leases@fleetwall-test";

const policy = (name: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: "fleetwall.io/v1alpha1",
  kind: "FirewallPolicy",
  metadata: { name },
  spec: { defaultInput: "Accept", ...spec },
});
const deny = (port: number, selector: Record<string, string> = { role: "web" }) => ({
  hostSelector: { matchLabels: selector },
  ingress: [{ name: "deny", action: "Reject", protocol: "tcp", ports: [port] }],
});

describe("the controller on the Kubernetes API", () => {
  let fleet: Fleet;
  let api: FakeKubeApi;
  let k1: FleetHost;
  let k2: FleetHost;
  let kubeArgs: string[];

  const status = (plural: string, name: string) => api.get(plural, name)?.status as Record<string, unknown> & { conditions?: { type: string; status: string; reason: string; message: string }[] } | undefined;
  const condition = (plural: string, name: string, type: string) => status(plural, name)?.conditions?.find((c) => c.type === type);
  /** Which of these host:port pairs refuse (the policy's Reject) rather than answer. */
  const rejected = async (pairs: [FleetHost, number][]) => {
    const r = await fleet.probeDetail(pairs.map(([h, p]) => `tcp:${h.ip4}:${p}`));
    return pairs.map(([h, p]) => r[`tcp:${h.ip4}:${p}`] === "refused");
  };

  beforeAll(async () => {
    api = await startFakeKubeApi();
    fleet = await createFleet([
      { id: "k1", labels: "role=web" },
      { id: "k2", labels: "role=db" },
    ]);
    [k1, k2] = fleet.hosts as [FleetHost, FleetHost];
    await fleet.listen(["tcp:8081", "tcp:8082", "tcp:8083"]);
    kubeArgs = ["--source", "kube", "--kubeconfig", await api.kubeconfig(fleet.dir), "--lease-namespace", "fleetwall-test", "--lease-duration", "2s", "--lease-retry", "300ms", "--status-interval", "200ms"];
    await fleet.startController([...kubeArgs, "--identity", "ctl-a"]);
    for (const h of fleet.hosts) fleet.startAgent(h);
    // no policy selects them yet: wait until both agents registered
    await waitFor("both agents registered", async () => (await fleet.status().catch(() => undefined))?.hosts.length === 2, 30_000, 200);
  });

  afterAll(async () => {
    await fleet?.destroy();
    await api?.close();
  });

  it("holds the Lease and creates a FirewallHost for each agent, labelled as the agent proposes", async () => {
    expect((api.get(LEASES, "fleetwall-controller")?.spec as { holderIdentity?: string }).holderIdentity).toBe("ctl-a");
    await waitFor("FirewallHosts", () => api.list("firewallhosts").length === 2, 10_000, 50);
    expect(api.get("firewallhosts", "k1")?.metadata.labels).toEqual({ role: "web" });
    expect(api.get("firewallhosts", "k2")?.metadata.labels).toEqual({ role: "db" });
    await waitFor("host statuses", () => condition("firewallhosts", "k1", "InSync")?.status === "True" && condition("firewallhosts", "k2", "Ready")?.status === "True", 10_000, 50);
    expect(status("firewallhosts", "k1")).toMatchObject({ agentVersion: expect.any(String), appliedRevision: expect.any(Number), rulesetHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it("applies a created policy to the hosts it selects and reports it in the policy's status", async () => {
    api.apply("firewallpolicies", policy("edge", deny(8081)));
    await waitFor("8081 rejected on k1 only", async () => JSON.stringify(await rejected([[k1, 8081], [k2, 8081]])) === "[true,false]", 15_000, 100);
    await waitFor("the policy's status", () => condition("firewallpolicies", "edge", "Ready")?.status === "True", 10_000, 50);
    expect(status("firewallpolicies", "edge")).toMatchObject({ observedGeneration: 1, selectedHosts: 1, appliedHosts: 1, failedHosts: 0 });
  });

  it("applies an update and reports the new generation", async () => {
    api.apply("firewallpolicies", policy("edge", deny(8082)));
    await waitFor("8082 rejected, 8081 open again on k1", async () => JSON.stringify(await rejected([[k1, 8081], [k1, 8082]])) === "[false,true]", 15_000, 100);
    await waitFor("observedGeneration 2", () => status("firewallpolicies", "edge")?.observedGeneration === 2 && condition("firewallpolicies", "edge", "Ready")?.status === "True", 10_000, 50);
  });

  it("a label added to a FirewallHost (kubectl label fwh k2 role=web) changes which policies the host gets", async () => {
    api.label("firewallhosts", "k2", { role: "web" });
    await waitFor("8082 rejected on k2 too", async () => JSON.stringify(await rejected([[k2, 8082]])) === "[true]", 15_000, 100);
    await waitFor("two selected hosts", () => status("firewallpolicies", "edge")?.selectedHosts === 2 && status("firewallpolicies", "edge")?.appliedHosts === 2, 10_000, 50);
    // the agent's next registration does not undo the operator's label
    expect(api.get("firewallhosts", "k2")?.metadata.labels).toEqual({ role: "web" });
  });

  it("an invalid spec stalls with a condition naming the field; the last valid version stays in force", async () => {
    // a port range backwards: the CRD's CEL rule says so, but an old API server ignores CEL
    api.apply("firewallpolicies", policy("bad", { hostSelector: {}, ingress: [{ name: "x", action: "Reject", protocol: "tcp", ports: ["9000-8000"] }] }));
    await waitFor("bad: Invalid", () => condition("firewallpolicies", "bad", "Ready")?.reason === "Invalid", 10_000, 50);
    expect(condition("firewallpolicies", "bad", "Ready")?.message).toMatch(/spec\.ingress\[0\]\.ports/);
    expect(condition("firewallpolicies", "bad", "Stalled")?.status).toBe("True");
    api.apply("firewallpolicies", policy("edge", { ...deny(8082), ingress: [{ name: "deny", action: "Reject", protocol: "tcp", ports: [70000] }] }));
    await waitFor("edge: Invalid", () => condition("firewallpolicies", "edge", "Ready")?.reason === "Invalid", 10_000, 50);
    expect(condition("firewallpolicies", "edge", "Ready")?.message).toMatch(/spec\.ingress\[0\]\.ports/);
    // the hosts keep the last valid version
    expect(await rejected([[k1, 8082], [k2, 8082]])).toEqual([true, true]);
    api.delete("firewallpolicies", "bad");
    api.apply("firewallpolicies", policy("edge", deny(8082)));
    await waitFor("edge: valid again", () => condition("firewallpolicies", "edge", "Ready")?.status === "True" && status("firewallpolicies", "edge")?.observedGeneration === 4, 10_000, 50);
  });

  it("writes no status while nothing changes, however often the hosts heartbeat", async () => {
    await waitFor("statuses settled", async () => {
      const n = api.requests.filter((r) => r.method === "PATCH" && r.path.endsWith("/status")).length;
      await new Promise((r) => setTimeout(r, 1500));
      return api.requests.filter((r) => r.method === "PATCH" && r.path.endsWith("/status")).length === n;
    }, 20_000, 0);
    const before = api.requests.filter((r) => r.method === "PATCH" && r.path.endsWith("/status")).length;
    // two agents heartbeat every second: five seconds are ten heartbeats
    await new Promise((r) => setTimeout(r, 5000));
    expect(api.requests.filter((r) => r.method === "PATCH" && r.path.endsWith("/status")).length).toBe(before);
  });

  it("survives dropped watches and 410 Gone: a change made meanwhile still arrives", async () => {
    api.dropWatches();
    api.compact();
    api.apply("firewallpolicies", policy("edge", deny(8083)));
    await waitFor("8083 rejected on k1", async () => JSON.stringify(await rejected([[k1, 8082], [k1, 8083]])) === "[false,true]", 15_000, 100);
  });

  it("restarts an informer that failed (an API server answering 500), with backoff, instead of stopping silently", async () => {
    api.failWatches(500);
    api.dropWatches();
    api.apply("firewallpolicies", policy("edge", deny(8081)));
    await new Promise((r) => setTimeout(r, 1500));
    api.failWatches(undefined);
    await waitFor("8081 rejected on k1", async () => JSON.stringify(await rejected([[k1, 8081], [k1, 8083]])) === "[true,false]", 30_000, 100);
    const metrics = await fleet.httpGet(`http://${fleet.controllerHttp}/metrics`);
    expect(Number(/fleetwall_controller_kube_informer_restarts_total (\d+)/.exec(metrics.body)?.[1])).toBeGreaterThan(0);
  });

  it("deletes: a deleted policy's rules leave the hosts", async () => {
    api.delete("firewallpolicies", "edge");
    await waitFor("8081 open again", async () => JSON.stringify(await rejected([[k1, 8081], [k2, 8081]])) === "[false,false]", 15_000, 100);
  });

  it("a standby replica waits, and takes over when the leader dies", async () => {
    const leader = fleet.controller;
    const standby = await fleet.startController([...kubeArgs, "--identity", "ctl-b", "--listen", `127.0.0.1:${await freePort()}`]);
    await waitFor("the standby waiting", () => standby.log().includes("waiting to become leader"), 10_000, 50);
    await new Promise((r) => setTimeout(r, 1000));
    expect(standby.log()).not.toContain("leader election won");
    await leader?.kill();
    await waitFor("ctl-b leading", () => (api.get(LEASES, "fleetwall-controller")?.spec as { holderIdentity?: string }).holderIdentity === "ctl-b", 15_000, 100);
    api.apply("firewallpolicies", policy("after", deny(8083)));
    await waitFor("the new leader applies changes", async () => JSON.stringify(await rejected([[k1, 8083]])) === "[true]", 20_000, 100);
    await waitFor("and writes status", () => condition("firewallpolicies", "after", "Ready")?.status === "True", 10_000, 50);
  });
});
