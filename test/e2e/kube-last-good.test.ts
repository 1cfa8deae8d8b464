import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFleet, type Fleet, type FleetHost } from "../harness/fleet.js";
import { startFakeKubeApi, type FakeKubeApi, type KubeObject } from "../harness/kube-api.js";
import { waitFor } from "../harness/sh.js";

// Issue 17, "last good survives restarts", with the Kubernetes source: a spec the controller finds
// invalid (one the API server let through, as one without CEL does) keeps the version in force from
// the last-good bucket, also when the controller restarts in between.

const policy = (name: string, port: number): KubeObject => ({
  apiVersion: "fleetwall.io/v1alpha1",
  kind: "FirewallPolicy",
  metadata: { name },
  spec: { defaultInput: "Accept", hostSelector: {}, ingress: [{ name: "deny", action: "Reject", protocol: "tcp", ports: [port] }] },
});

describe("the Kubernetes source keeps the last valid version across a controller restart", () => {
  let fleet: Fleet;
  let api: FakeKubeApi;
  let host: FleetHost;
  let kubeArgs: string[];
  const rejected = async (port: number) => (await fleet.probeDetail([`tcp:${host.ip4}:${port}`]))[`tcp:${host.ip4}:${port}`] === "refused";
  const edge = async () => (await fleet.status().catch(() => undefined))?.policies.find((p) => p.name === "edge");

  beforeAll(async () => {
    api = await startFakeKubeApi();
    fleet = await createFleet([{ id: "k1", labels: "role=web" }]);
    host = fleet.hosts[0] as FleetHost;
    await fleet.listen(["tcp:8081"]);
    kubeArgs = ["--source", "kube", "--kubeconfig", await api.kubeconfig(fleet.dir), "--lease-namespace", "fleetwall-test", "--lease-duration", "2s", "--lease-retry", "300ms", "--status-interval", "200ms"];
    api.apply("firewallpolicies", policy("edge", 8081));
    await fleet.startController(kubeArgs);
    fleet.startAgent(host);
    await waitFor("8081 rejected", () => rejected(8081), 60_000, 200);
  });

  afterAll(async () => {
    await fleet?.destroy();
    await api?.close();
  });

  it("an invalid spec before and after a restart changes nothing on the host", async () => {
    const before = (await fleet.status()).hosts[0]?.desiredRevision;
    api.apply("firewallpolicies", policy("edge", 70000));
    await waitFor("edge invalid", async () => (await edge())?.error?.includes("65535"), 30_000, 200);
    await fleet.controller?.stop();
    await fleet.startController(kubeArgs);
    await waitFor("the restarted controller compiled edge", async () => {
      const e = await edge();
      return e?.error?.includes("65535") && e.selectedHosts === 1;
    }, 60_000, 200);
    await fleet.waitInSync(60_000);
    expect((await fleet.status()).hosts[0]?.desiredRevision).toBe(before);
    expect(await rejected(8081)).toBe(true);
  }, 180_000);
});
