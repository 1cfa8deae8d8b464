import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { DESIRED_BUCKET, DesiredState, parseEnvelopeText } from "@fleetwall/api";
import { createFleet, REPO, type Fleet, type FleetHost } from "../harness/fleet.js";
import type { Proc } from "../harness/procs.js";
import { startKubeApi, type KubeApi, type KubeObject } from "../harness/kube.js";
import { waitFor } from "../harness/sh.js";

// A controller that takes over and cannot read its source must leave every host's rules as they are.
// Real kube-apiserver (test/harness/kube.ts), real fleet (namespaces, nft, packets): a policy is
// enforced by a first controller, which is stopped (SIGTERM: it releases the Lease); a second one
// starts and leads, but cannot list the fleetwall.io kinds: as a user with rights on Leases only
// (403), or with the CRDs deleted (404). Its log names the failure in one line; for 10 s of its
// retrying the port stays closed and the host's desired-state key is not written at all; once RBAC
// is granted (or the CRDs and the policy are applied again) it converges.
const FWP = "/apis/fleetwall.io/v1alpha1/firewallpolicies";
const CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const LEASE_NS = "fleetwall-test";
const LIMITED = "lease-only";
const HOLD_MS = 10_000;

const policy = (port: number): KubeObject => ({
  apiVersion: "fleetwall.io/v1alpha1",
  kind: "FirewallPolicy",
  metadata: { name: "edge" },
  spec: { defaultInput: "Accept", hostSelector: { matchLabels: { role: "web" } }, ingress: [{ name: "deny", action: "Reject", protocol: "tcp", ports: [port] }] },
});

/** Lease rights only, in the lease namespace: what a controller needs to lead, and nothing to read policies with. */
const leaseRbac: KubeObject[] = [
  { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: "lease-only", namespace: LEASE_NS }, rules: [{ apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] }] },
  { apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding", metadata: { name: "lease-only", namespace: LEASE_NS }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "lease-only" }, subjects: [{ kind: "User", name: LIMITED, apiGroup: "rbac.authorization.k8s.io" }] },
];
/** The fleetwall.io kinds, as the chart's ClusterRole grants them. */
const sourceRbac: KubeObject[] = [
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: "fleetwall-source" },
    rules: [
      { apiGroups: ["fleetwall.io"], resources: ["firewallpolicies", "banlists", "firewallhosts"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["fleetwall.io"], resources: ["firewallhosts"], verbs: ["create", "update", "patch"] },
      { apiGroups: ["fleetwall.io"], resources: ["firewallpolicies/status", "banlists/status", "firewallhosts/status"], verbs: ["get", "update", "patch"] },
    ],
  },
  { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: "fleetwall-source" }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "fleetwall-source" }, subjects: [{ kind: "User", name: LIMITED, apiGroup: "rbac.authorization.k8s.io" }] },
];

describe("a controller that cannot list its source leaves the hosts' rules as they are", () => {
  let api: KubeApi;
  let fleet: Fleet;
  let web: FleetHost;
  let nc: NatsConnection;
  let desired: KV;
  let controller: Proc;
  let identities = 0;

  const args = (kubeconfig: string) => ["--source", "kube", "--kubeconfig", kubeconfig, "--lease-namespace", LEASE_NS, "--lease-duration", "6s", "--lease-retry", "500ms", "--status-interval", "500ms", "--identity", `ctl-${++identities}`];
  const outcome = async (ports: number[]) => {
    const r = await fleet.probeDetail(ports.map((p) => `tcp:${web.ip4}:${p}`), { timeoutMs: 1000 });
    return ports.map((p) => r[`tcp:${web.ip4}:${p}`]);
  };
  /** The host's desired-state key: the stream sequence of its last write and the state's revision. */
  const key = async () => {
    const e = await desired.get(web.id);
    const env = e ? parseEnvelopeText(new TextDecoder().decode(e.value)) : undefined;
    const state = env?.success ? DesiredState.parse(JSON.parse(env.data.payload)) : undefined;
    return { seq: e?.revision, revision: state?.revision, hash: state?.hash };
  };
  const applyCrds = async () => {
    for (const f of readdirSync(join(REPO, "crds"))) await api.applyYaml(readFileSync(join(REPO, "crds", f), "utf8"));
  };
  /** Stops the leader with SIGTERM (it releases the Lease) and starts another with this kubeconfig. */
  const takeOver = async (kubeconfig: string) => {
    await controller.stop(10_000);
    controller = await fleet.startController(args(kubeconfig));
    await waitFor("the new controller leads", () => controller.log().includes("leader election won"), 30_000, 100);
  };
  /** For HOLD_MS of the new leader's retrying: the port stays closed and the key is not written. */
  const holds = async (before: Awaited<ReturnType<typeof key>>) => {
    const until = Date.now() + HOLD_MS;
    while (Date.now() < until) {
      expect(await outcome([8081])).toEqual(["refused"]);
      expect(await key()).toEqual(before);
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  beforeAll(async () => {
    api = await startKubeApi({ users: [LIMITED] });
    await applyCrds();
    await api.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: LEASE_NS } });
    for (const o of leaseRbac) await api.apply(o);
    fleet = await createFleet([{ id: "w1", labels: "role=web" }]);
    web = fleet.hosts[0] as FleetHost;
    await fleet.listen(["tcp:8081", "tcp:8082"]);
    controller = await fleet.startController(args(api.kubeconfig));
    fleet.startAgent(web);
    nc = await connect({ servers: fleet.natsUrls });
    await api.apply(policy(8081));
    await waitFor("8081 rejected on the host", async () => JSON.stringify(await outcome([8081, 8082])) === '["refused","open"]', 60_000, 200);
    desired = await new Kvm(nc).open(DESIRED_BUCKET, { bindOnly: true });
  }, 180_000);

  afterAll(async () => {
    await nc?.close();
    await fleet?.destroy();
    await api?.stop();
  });

  it("forbidden (403): a leader with no list on fleetwall.io kinds logs it in one line and publishes nothing; granted, it converges", async () => {
    const before = await key();
    expect(before.revision).toBeGreaterThan(0);
    await takeOver(api.kubeconfigFor(LIMITED));
    await waitFor("the 403 in the log", () => /"code":403.*"informer failed; restarting"/.test(controller.log()), 30_000, 100);
    await holds(before);
    const lines = controller.log().split("\n").filter((l) => l.includes('"code":403'));
    // every 403 is one line naming the call and the fix: the informers' lists (the Nodes' too: this
    // account may not list them either), and the FirewallHost it cannot create
    for (const l of lines) expect(JSON.parse(l)).toMatchObject({ fix: expect.stringMatching(/^RBAC does not allow verb (list|create) on (firewallpolicies|banlists|firewallhosts|nodes)/), object: expect.stringMatching(/^(list (firewallpolicies|banlists|firewallhosts|nodes)|create firewallhosts\/w1)$/) });
    expect(lines.filter((l) => l.includes("informer failed; restarting")).length).toBeGreaterThanOrEqual(3);
    expect(controller.log()).not.toMatch(/desired state published/);
    expect(controller.log()).not.toMatch(/\n\s+at /); // no stack
    // granted the kinds, the same process reads them and enforces a change
    for (const o of sourceRbac) await api.apply(o);
    await api.apply(policy(8082));
    await waitFor("8082 rejected and 8081 open", async () => JSON.stringify(await outcome([8081, 8082])) === '["open","refused"]', 90_000, 500);
    expect((await key()).revision).toBeGreaterThan(before.revision as number);
    expect(controller.log()).not.toMatch(/MaxListenersExceededWarning/);
  }, 240_000);

  it("missing CRDs (404): a leader logs the fix in one line and publishes nothing; CRDs and the policy applied again, it converges", async () => {
    await api.apply(policy(8081));
    await waitFor("8081 rejected again", async () => JSON.stringify(await outcome([8081, 8082])) === '["refused","open"]', 60_000, 200);
    await controller.stop(10_000);
    for (const crd of await api.list(CRDS)) if (crd.metadata.name.endsWith(".fleetwall.io")) await api.delete(CRDS, crd.metadata.name);
    await waitFor("the CRDs gone", async () => (await api.list(CRDS)).every((c) => !c.metadata.name.endsWith(".fleetwall.io")), 60_000, 200);
    const before = await key();
    controller = await fleet.startController(args(api.kubeconfig));
    await waitFor("the new controller leads", () => controller.log().includes("leader election won"), 30_000, 100);
    await waitFor("the 404 in the log", () => /"code":404.*"informer failed; restarting"/.test(controller.log()), 30_000, 100);
    await holds(before);
    const lines = controller.log().split("\n").filter((l) => l.includes('"code":404'));
    for (const l of lines) expect(JSON.parse(l)).toMatchObject({ fix: expect.stringContaining("install the CRDs first (kubectl apply -f crds/)") });
    expect(controller.log()).not.toMatch(/desired state published/);
    await applyCrds();
    await api.apply(policy(8082));
    await waitFor("8082 rejected and 8081 open", async () => JSON.stringify(await outcome([8081, 8082])) === '["open","refused"]', 90_000, 500);
    expect((await key()).revision).toBeGreaterThan(before.revision as number);
  }, 240_000);
});
