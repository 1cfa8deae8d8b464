import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { HOSTS_BUCKET, SCHEMA_VERSION } from "@fleetwall/api";
import { createFleet, REPO, type Fleet, type FleetHost } from "../harness/fleet.js";
import { startKubeApi, type KubeApi } from "../harness/kube.js";
import { waitFor } from "../harness/sh.js";

// #18 item 2 on Kubernetes, on a real kube-apiserver: a host that is a Node (node web.1 is host
// web-1, as the chart's agents derive their ids) owns exactly the Node's status.addresses; an
// address it registers beyond them is not protected, and its FirewallHost says so. A host that is no
// Node is judged by the host networks. The pure rules: host-networks.test.ts, protection.test.ts.
const FWH = "/apis/fleetwall.io/v1alpha1/firewallhosts";
const NODES = "/api/v1/nodes";
const LEASE_NS = "fleetwall-test";

type Cond = { type: string; status: string; reason: string; message: string };

describe("a Node's addresses are the truth for the host it is", () => {
  let fleet: Fleet;
  let api: KubeApi;
  let nc: NatsConnection;
  let web1: FleetHost;
  let web2: FleetHost;
  let spare: string;

  const addressesCondition = async (host: string) => ((await api.get(FWH, host))?.status as { conditions?: Cond[] } | undefined)?.conditions?.find((c) => c.type === "AddressesProtected");
  const nodeStatus = (addresses: { type: string; address: string }[]) => api.request("PATCH", `${NODES}/web.1/status`, { status: { addresses } }, { contentType: "application/merge-patch+json" });
  const register = async (h: FleetHost, addresses: string[]) => {
    const hosts = await new Kvm(nc).open(HOSTS_BUCKET, { bindOnly: true });
    await hosts.put(h.id, JSON.stringify({ schemaVersion: SCHEMA_VERSION, hostId: h.id, labels: { role: "web" }, addresses, agentVersion: "x", nftVersion: "x", startedAt: new Date().toISOString() }));
  };

  beforeAll(async () => {
    api = await startKubeApi({ cel: false });
    for (const f of readdirSync(join(REPO, "crds"))) await api.applyYaml(readFileSync(join(REPO, "crds", f), "utf8"));
    await api.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: LEASE_NS } });
    fleet = await createFleet([
      { id: "web-1", labels: "role=web" },
      { id: "web-2", labels: "role=web" },
    ]);
    [web1, web2] = fleet.hosts as [FleetHost, FleetHost];
    spare = `198.18.${fleet.net.slot}.99`;
    await api.apply({ apiVersion: "v1", kind: "Node", metadata: { name: "web.1" } });
    const patched = await nodeStatus([{ type: "InternalIP", address: web1.ip4 }, { type: "InternalIP", address: web1.ip6 }, { type: "Hostname", address: "web.1" }]);
    expect(patched.status).toBe(200);
    await fleet.startController(["--source", "kube", "--kubeconfig", api.kubeconfig, "--lease-namespace", LEASE_NS, "--lease-duration", "6s", "--lease-retry", "500ms", "--status-interval", "200ms", "--identity", "ctl"]);
    for (const h of fleet.hosts) fleet.startAgent(h);
    nc = await connect({ servers: fleet.nats.url, timeout: 3000 });
  }, 240_000);

  afterAll(async () => {
    await nc?.close();
    await fleet?.destroy();
    await api?.stop();
  });

  it("every address the agents register is their own: web-1's by its Node, web-2's by the host networks", async () => {
    for (const h of ["web-1", "web-2"]) await waitFor(`${h}'s AddressesProtected`, async () => (await addressesCondition(h))?.status === "True", 90_000, 250);
    expect(await addressesCondition("web-1")).toMatchObject({ reason: "AllOwn" });
    expect(fleet.controller?.log()).not.toContain("nodes not listed");
    expect(fleet.controller?.log()).toContain("registrations and protections loaded");
  }, 120_000);

  it("web-1 registers an address of the fleet's network its Node does not have: not protected, and its FirewallHost says so", async () => {
    await register(web1, [web1.ip4, web1.ip6, spare]);
    await waitFor("web-1's AddressesProtected False", async () => (await addressesCondition("web-1"))?.status === "False", 30_000, 250);
    const cond = await addressesCondition("web-1");
    expect(cond).toMatchObject({ reason: "AddressesRefused" });
    expect(cond?.message).toBe(`${spare} (not an address of Node web.1 (its status.addresses): not protected)`);
    expect(fleet.controller?.log()).toContain(`address ${spare}: not an address of Node web.1`);
    // the same address is in the default host networks: web-2, which is no Node, would own it
    await register(web2, [web2.ip4, spare]);
    await waitFor("web-2 owns it", async () => (await fleet.cli(["hosts", "list", "--nats", fleet.nats.url])).match(new RegExp(`^web-2\\s+\\S+\\s+\\S*${spare.replace(/\./g, "\\.")}\\S*\\s+-$`, "m")) !== null, 30_000, 250);
    expect(await addressesCondition("web-2")).toMatchObject({ status: "True" });
    await register(web2, [web2.ip4, web2.ip6]);
  }, 120_000);

  it("the Node gaining the address makes it web-1's own again, without a new registration", async () => {
    await nodeStatus([{ type: "InternalIP", address: web1.ip4 }, { type: "InternalIP", address: web1.ip6 }, { type: "ExternalIP", address: spare }]);
    await waitFor("web-1's AddressesProtected True", async () => (await addressesCondition("web-1"))?.status === "True", 30_000, 250);
    await expect(fleet.cli(["bans", "add", spare, "--nats", fleet.nats.url])).rejects.toThrow(/a fleet host \(registered by web-1\)/);
  }, 120_000);
});
