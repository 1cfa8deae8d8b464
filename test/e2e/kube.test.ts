import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFleet, REPO, type Fleet, type FleetHost } from "../harness/fleet.js";
import { freePort } from "../harness/nats.js";
import { startKubeApi, type KubeApi, type KubeObject } from "../harness/kube.js";
import { waitFor } from "../harness/sh.js";

// The controller on a real Kubernetes API server (kube-apiserver v1.24 on etcd, test/harness/kube.ts)
// with the CRDs from crds/, and a real fleet: FirewallHosts appear for agents, policies apply and
// their status tells the truth (read back from the server, after its pruning), labels select, and no
// status is written while nothing changes. The server runs as v1.24 does by default, with CEL off: so a
// spec the CRD's CEL rules would refuse is accepted, as on any server older than 1.25, and the
// controller must stall it itself. Faults a real server cannot be made to produce on demand (500s on
// a watch, 410 Gone) are in kube-faults.test.ts, against the in-repo fake. Leader election with two
// replicas is at the end.
const FWP = "/apis/fleetwall.io/v1alpha1/firewallpolicies";
const FWH = "/apis/fleetwall.io/v1alpha1/firewallhosts";
const BL = "/apis/fleetwall.io/v1alpha1/banlists";
const LEASE_NS = "fleetwall-test";
const LEASES = `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NS}/leases`;
const LEASE_DURATION_MS = 6000;
const LEASE_RETRY_MS = 500;

type Cond = { type: string; status: string; reason: string; message: string; lastTransitionTime: string };
type Status = Record<string, unknown> & { conditions?: Cond[] };

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

describe("the controller on a real Kubernetes API server", () => {
  let fleet: Fleet;
  let api: KubeApi;
  let k1: FleetHost;
  let k2: FleetHost;
  let kubeArgs: string[];

  const status = async (path: string, name: string) => (await api.get(path, name))?.status as Status | undefined;
  const condition = async (path: string, name: string, type: string) => (await status(path, name))?.conditions?.find((c) => c.type === type);
  const holder = async () => ((await api.get(LEASES, "fleetwall-controller"))?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
  /** A metric's value (unlabelled) as the controller listening on `http` exports it. */
  const metric = async (http: string, name: string) => new RegExp(`^${name} (\\S+)$`, "m").exec((await fleet.httpGet(`http://${http}/metrics`)).body)?.[1];
  const statusPatches = async () => (await Promise.all(["firewallpolicies", "firewallhosts", "banlists"].map((r) => api.requestCount("PATCH", r, "status")))).reduce((a, b) => a + b, 0);
  /** Which of these host:port pairs refuse (the policy's Reject) rather than answer. */
  const rejected = async (pairs: [FleetHost, number][]) => {
    const r = await fleet.probeDetail(pairs.map(([h, p]) => `tcp:${h.ip4}:${p}`));
    return pairs.map(([h, p]) => r[`tcp:${h.ip4}:${p}`] === "refused");
  };

  beforeAll(async () => {
    api = await startKubeApi({ cel: false });
    for (const f of readdirSync(join(REPO, "crds"))) await api.applyYaml(readFileSync(join(REPO, "crds", f), "utf8"));
    await api.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: LEASE_NS } });
    fleet = await createFleet([
      { id: "k1", labels: "role=web" },
      { id: "k2", labels: "role=db" },
    ]);
    [k1, k2] = fleet.hosts as [FleetHost, FleetHost];
    await fleet.listen(["tcp:8081", "tcp:8082", "tcp:8083"]);
    kubeArgs = ["--source", "kube", "--kubeconfig", api.kubeconfig, "--lease-namespace", LEASE_NS, "--lease-duration", `${LEASE_DURATION_MS}ms`, "--lease-retry", `${LEASE_RETRY_MS}ms`, "--status-interval", "200ms"];
    await fleet.startController([...kubeArgs, "--identity", "ctl-a"]);
    for (const h of fleet.hosts) fleet.startAgent(h);
    await waitFor("both agents registered", async () => (await fleet.status().catch(() => undefined))?.hosts.length === 2, 60_000, 200);
  }, 180_000);

  afterAll(async () => {
    await fleet?.destroy();
    await api?.stop();
  });

  it("holds the Lease (MicroTime accepted) and creates a FirewallHost for each agent, labelled as the agent proposes", async () => {
    expect(await holder()).toBe("ctl-a");
    const lease = await api.get(LEASES, "fleetwall-controller");
    expect((lease?.spec as { renewTime: string }).renewTime).toMatch(/\.\d{6}Z$/);
    await waitFor("FirewallHosts", async () => (await api.list(FWH)).length === 2, 60_000, 100);
    expect((await api.get(FWH, "k1"))?.metadata.labels).toEqual({ role: "web" });
    expect((await api.get(FWH, "k2"))?.metadata.labels).toEqual({ role: "db" });
  });

  it("a FirewallHost's status, read back from the server, has every field the controller writes", async () => {
    await waitFor("host statuses", async () => (await condition(FWH, "k1", "InSync"))?.status === "True" && (await condition(FWH, "k2", "Ready"))?.status === "True", 60_000, 100);
    const s = await status(FWH, "k1");
    expect(s).toMatchObject({ addresses: expect.arrayContaining([k1.ip4]), agentVersion: expect.any(String), nftVersion: expect.any(String), lastSeen: expect.any(String), desiredRevision: expect.any(Number), appliedRevision: expect.any(Number), rulesetHash: expect.stringMatching(/^[0-9a-f]{64}$/), activeBans: 0, driftRepairs: expect.any(Number) });
    expect(s?.conditions?.map((c) => c.type).sort()).toEqual(["AddressesProtected", "Degraded", "InSync", "Ready"]);
  });

  it("applies a created policy to the hosts it selects; its status, read back, says so", async () => {
    await api.apply(policy("edge", deny(8081)));
    await waitFor("8081 rejected on k1 only", async () => JSON.stringify(await rejected([[k1, 8081], [k2, 8081]])) === "[true,false]", 30_000, 100);
    await waitFor("the policy's status", async () => (await condition(FWP, "edge", "Ready"))?.status === "True", 60_000, 100);
    const s = await status(FWP, "edge");
    expect(s).toMatchObject({ observedGeneration: 1, selectedHosts: 1, appliedHosts: 1, failedHosts: 0 });
    expect(s?.conditions?.map((c) => c.type).sort()).toEqual(["Degraded", "Ready", "Reconciling"]);
    expect(s?.conditions?.find((c) => c.type === "Ready")).toMatchObject({ reason: "Applied", observedGeneration: 1, lastTransitionTime: expect.any(String) });
  });

  it("a BanList's status, read back from the server, has its counts and Ready", async () => {
    await api.apply({ apiVersion: "fleetwall.io/v1alpha1", kind: "BanList", metadata: { name: "scanners" }, spec: { entries: [{ cidr: "203.0.113.77/32", reason: "scanner" }] } });
    await waitFor("the ban list's status", async () => (await status(BL, "scanners"))?.entries === 1, 60_000, 100);
    // the counts converge as the hosts report (each field on its own schedule): wait for all of them
    const expected = { observedGeneration: 1, entries: 1, active: 1, hostsEnforcing: 2 };
    const s = await waitFor("enforced on both hosts", async () => {
      const now = await status(BL, "scanners");
      return Object.entries(expected).every(([k, v]) => now?.[k] === v) ? now : undefined;
    }, 60_000, 200);
    expect(s).toMatchObject(expected);
  });

  it("a BanList's Ready condition, read back from the server, survives its pruning", async () => {
    await waitFor("Ready", async () => (await condition(BL, "scanners", "Ready"))?.status === "True", 60_000, 100);
    expect(await condition(BL, "scanners", "Ready")).toMatchObject({ reason: "Published", lastTransitionTime: expect.any(String), observedGeneration: 1 });
  });

  it("applies an update and reports the new generation", async () => {
    await api.apply(policy("edge", deny(8082)));
    await waitFor("8082 rejected, 8081 open again on k1", async () => JSON.stringify(await rejected([[k1, 8081], [k1, 8082]])) === "[false,true]", 30_000, 100);
    await waitFor("observedGeneration 2", async () => (await status(FWP, "edge"))?.observedGeneration === 2 && (await condition(FWP, "edge", "Ready"))?.status === "True", 60_000, 100);
  });

  it("a label added to a FirewallHost (kubectl label fwh k2 role=web) changes which policies the host gets", async () => {
    await api.label(FWH, "k2", { role: "web" });
    await waitFor("8082 rejected on k2 too", async () => JSON.stringify(await rejected([[k2, 8082]])) === "[true]", 30_000, 100);
    await waitFor("two selected hosts", async () => (await status(FWP, "edge"))?.selectedHosts === 2 && (await status(FWP, "edge"))?.appliedHosts === 2, 60_000, 100);
    // the agent's next registration does not undo the operator's label
    expect((await api.get(FWH, "k2"))?.metadata.labels).toEqual({ role: "web" });
  });

  it("a spec the server accepted but the controller finds invalid stalls with a condition naming the field; the last valid version stays in force", async () => {
    // a port range backwards: only the CRD's CEL rule says so, and this server ignores CEL
    await api.apply(policy("bad", { hostSelector: {}, ingress: [{ name: "x", action: "Reject", protocol: "tcp", ports: ["9000-8000"] }] }));
    await waitFor("bad: Invalid", async () => (await condition(FWP, "bad", "Ready"))?.reason === "Invalid", 60_000, 100);
    expect((await condition(FWP, "bad", "Ready"))?.message).toMatch(/spec\.ingress\[0\]\.ports/);
    expect((await condition(FWP, "bad", "Stalled"))?.status).toBe("True");
    await api.apply(policy("edge", { ...deny(8082), ingress: [{ name: "deny", action: "Reject", protocol: "tcp", ports: ["8090-8080"] }] }));
    await waitFor("edge: Invalid", async () => (await condition(FWP, "edge", "Ready"))?.reason === "Invalid", 60_000, 100);
    expect((await condition(FWP, "edge", "Ready"))?.message).toMatch(/spec\.ingress\[0\]\.ports/);
    // the hosts keep the last valid version
    expect(await rejected([[k1, 8082], [k2, 8082]])).toEqual([true, true]);
    await api.delete(FWP, "bad");
    await api.apply(policy("edge", deny(8082)));
    await waitFor("edge: valid again", async () => (await condition(FWP, "edge", "Ready"))?.status === "True" && (await status(FWP, "edge"))?.observedGeneration === 4, 60_000, 100);
  });

  it("writes no status while nothing changes, however often the hosts heartbeat: no status PATCH in 10 s", async () => {
    const patches = async () => {
      const counts = await Promise.all(["firewallpolicies", "firewallhosts", "banlists"].map((r) => api.requestCount("PATCH", r, "status")));
      return counts.reduce((a, b) => a + b, 0);
    };
    // settled: the last change above has been written (its status read back), then a quiet second
    await waitFor("statuses settled", async () => {
      const n = await patches();
      await new Promise((r) => setTimeout(r, 2000));
      return (await patches()) === n;
    }, 60_000, 0);
    const before = await Promise.all(["firewallpolicies", "firewallhosts", "banlists"].map((r) => api.requestCount("PATCH", r, "status")));
    expect(before.every((n) => n > 0)).toBe(true); // the counter counts: each kind was written before
    // two agents heartbeat every second: ten seconds are twenty heartbeats
    await new Promise((r) => setTimeout(r, 10_000));
    const after = await Promise.all(["firewallpolicies", "firewallhosts", "banlists"].map((r) => api.requestCount("PATCH", r, "status")));
    expect(after).toEqual(before);
  });

  it("deletes: a deleted policy's rules leave the hosts", async () => {
    await api.delete(FWP, "edge");
    await waitFor("8082 open again", async () => JSON.stringify(await rejected([[k1, 8082], [k2, 8082]])) === "[false,false]", 30_000, 100);
  });

  it("a clean stop (SIGTERM) releases the Lease: the standby leads within one retry period", async () => {
    const leader = fleet.controller;
    const standbyHttp = `127.0.0.1:${await freePort()}`;
    const standby = await fleet.startController([...kubeArgs, "--identity", "ctl-b", "--listen", standbyHttp]);
    await waitFor("the standby waiting", () => standby.log().includes("lease held by another replica"), 60_000, 50);
    expect(standby.log()).not.toContain("leader election won");
    // what the last changes (the deletion above) did to the statuses is written before the takeover:
    // the hosts report the state they applied, then the leader has nothing left to write
    await fleet.waitInSync(60_000);
    let quiet = 0; // twice in a row, 500 ms apart: passes (every 200 ms) made after the hosts' last reports
    await waitFor("ctl-a's statuses written", async () => (quiet = (await metric(fleet.controllerHttp, "fleetwall_controller_status_pending")) === "0" ? quiet + 1 : 0) >= 2, 30_000, 500);
    leader?.child.kill("SIGTERM");
    await waitFor("ctl-b leading", async () => (await holder()) === "ctl-b", 30_000, 50);
    // from the release (the old leader's log line) to the standby taking the lease (its acquireTime):
    // one retry period, and the time of a request on a loaded machine
    const line = leader?.log().split("\n").find((l) => l.includes('"lease released"'));
    expect(line).toBeDefined();
    const released = (JSON.parse(line as string) as { time: number }).time;
    const taken = Date.parse(((await api.get(LEASES, "fleetwall-controller"))?.spec as { acquireTime: string }).acquireTime);
    expect(taken - released).toBeLessThan(LEASE_RETRY_MS + 1000);
    expect(taken).toBeGreaterThan(released - 500); // taken once released (the log line may come a little after the write)
    expect(await leader?.exited).toBe(0);
    // the new leader finds every status as it would write it: it writes none (nothing changed). Its
    // status writer starts once it has heard from every host (its log says when); from then on, 25
    // passes (200 ms apart) write nothing: neither its own count nor the API server's says otherwise
    const patchesBefore = await statusPatches();
    await waitFor("ctl-b's status writer started", () => standby.log().includes("every host heard from since start"), 60_000, 100);
    await new Promise((r) => setTimeout(r, 5000));
    expect(await metric(standbyHttp, "fleetwall_controller_status_writes_total")).toBe("0");
    expect(await statusPatches()).toBe(patchesBefore);
    await api.apply(policy("after", deny(8083)));
    await waitFor("the new leader applies changes", async () => JSON.stringify(await rejected([[k1, 8083]])) === "[true]", 30_000, 100);
    await waitFor("and writes status", async () => (await condition(FWP, "after", "Ready"))?.status === "True", 60_000, 100);
  });

  it("a leader killed (SIGKILL) keeps the Lease until it expires: the standby leads within the lease duration", async () => {
    const leader = fleet.controller;
    const standby = await fleet.startController([...kubeArgs, "--identity", "ctl-c", "--listen", `127.0.0.1:${await freePort()}`]);
    await waitFor("the standby waiting", () => standby.log().includes("lease held by another replica"), 60_000, 50);
    const renewTime = async () => ((await api.get(LEASES, "fleetwall-controller"))?.spec as { renewTime: string }).renewTime;
    const last = await renewTime();
    leader?.child.kill("SIGKILL");
    await leader?.exited;
    expect(await holder()).toBe("ctl-b"); // not released
    await waitFor("ctl-c leading", async () => (await holder()) === "ctl-c", LEASE_DURATION_MS + 10_000, 50);
    // taken once the lease expired: no earlier than its last renewal plus the duration
    const taken = Date.parse(((await api.get(LEASES, "fleetwall-controller"))?.spec as { acquireTime: string }).acquireTime);
    expect(taken - Date.parse(last)).toBeGreaterThanOrEqual(LEASE_DURATION_MS - 1000);
    expect(taken - Date.parse(last)).toBeLessThan(LEASE_DURATION_MS + 2 * LEASE_RETRY_MS + 2000);
    await api.apply(policy("after", deny(8081)));
    await waitFor("the new leader applies changes", async () => JSON.stringify(await rejected([[k1, 8081], [k1, 8083]])) === "[true,false]", 30_000, 100);
  });
});
