import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFleet, type Fleet, type FleetHost } from "../harness/fleet.js";
import { startFakeKubeApi, type FakeKubeApi, type KubeObject } from "../harness/kube-api.js";
import { waitFor } from "../harness/sh.js";

// FAKE API SERVER. This file uses the in-repo fake (test/harness/kube-api.ts), not a real
// kube-apiserver, because it needs faults a real server cannot be made to produce on demand: every
// watch stream dropped at once, its history compacted so that resuming answers 410 Gone, and watches
// answered with HTTP 500 for a while. Everything else about the Kubernetes source is tested against
// the real server in kube.test.ts. The client is @kubernetes/client-node, unmodified.
const policy = (name: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: "fleetwall.io/v1alpha1",
  kind: "FirewallPolicy",
  metadata: { name },
  spec: { defaultInput: "Accept", ...spec },
});
const deny = (port: number) => ({ hostSelector: {}, ingress: [{ name: "deny", action: "Reject", protocol: "tcp", ports: [port] }] });

describe("the Kubernetes source when the API server fails (fake server: faults on demand)", () => {
  let fleet: Fleet;
  let api: FakeKubeApi;
  let k1: FleetHost;

  const rejected = async (ports: number[]) => {
    const r = await fleet.probeDetail(ports.map((p) => `tcp:${k1.ip4}:${p}`));
    return ports.map((p) => r[`tcp:${k1.ip4}:${p}`] === "refused");
  };

  beforeAll(async () => {
    api = await startFakeKubeApi();
    fleet = await createFleet([{ id: "k1", labels: "role=web" }]);
    [k1] = fleet.hosts as [FleetHost];
    await fleet.listen(["tcp:8081", "tcp:8082", "tcp:8083"]);
    await fleet.startController(["--source", "kube", "--kubeconfig", await api.kubeconfig(fleet.dir), "--lease-namespace", "fleetwall-test", "--lease-duration", "2s", "--lease-retry", "300ms", "--status-interval", "200ms", "--identity", "ctl-a"]);
    fleet.startAgent(k1);
    api.apply("firewallpolicies", policy("edge", deny(8081)));
    await waitFor("8081 rejected", async () => JSON.stringify(await rejected([8081])) === "[true]", 60_000, 200);
  }, 120_000);

  afterAll(async () => {
    await fleet?.destroy();
    await api?.close();
  });

  it("survives dropped watches and 410 Gone: a change made meanwhile still arrives", async () => {
    api.dropWatches();
    api.compact();
    api.apply("firewallpolicies", policy("edge", deny(8082)));
    await waitFor("8082 rejected, 8081 open", async () => JSON.stringify(await rejected([8081, 8082])) === "[false,true]", 30_000, 100);
  });

  it("restarts an informer that failed (an API server answering 500), with backoff, instead of stopping silently", async () => {
    api.failWatches(500);
    api.dropWatches();
    api.apply("firewallpolicies", policy("edge", deny(8083)));
    await waitFor("the failure logged as one line with its code", () => /"code":500.*"informer failed; restarting"/.test(fleet.controller?.log() ?? ""), 60_000, 100);
    api.failWatches(undefined);
    await waitFor("8083 rejected", async () => JSON.stringify(await rejected([8082, 8083])) === "[false,true]", 60_000, 100);
    const metrics = await fleet.httpGet(`http://${fleet.controllerHttp}/metrics`);
    expect(Number(/fleetwall_controller_kube_informer_restarts_total (\d+)/.exec(metrics.body)?.[1])).toBeGreaterThan(0);
    // one line per failure, no stack
    expect(fleet.controller?.log()).not.toMatch(/"stack":/);
  });
});
