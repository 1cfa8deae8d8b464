import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeWatch, loadKubeConfig } from "@fleetwall/controller/kube";
import type { NodeAddresses } from "@fleetwall/controller";
import { startKubeApi, type KubeApi } from "../harness/kube.js";
import { waitFor } from "../harness/sh.js";
import { captureLog } from "../harness/log-capture.js";

// The controller's Node informer on a real kube-apiserver: each Node is the host its name gives,
// with its InternalIP/ExternalIP addresses, as they change and when it goes; a user who may not
// list Nodes settles it at once (signals are not held) with one warning naming the refusal.
const NODES = "/api/v1/nodes";
const NOBODY = "system:serviceaccount:elsewhere:nobody";

describe("the Node informer", () => {
  let api: KubeApi;
  const watches: NodeWatch[] = [];

  beforeAll(async () => {
    api = await startKubeApi({ users: [NOBODY] });
  }, 120_000);

  afterAll(async () => {
    for (const w of watches) await w.stop();
    await api?.stop();
  });

  function watch(kubeconfig: string) {
    const { log, lines } = captureLog();
    const seen = new Map<string, NodeAddresses | null>();
    let settled = 0;
    const w = new NodeWatch({ kubeconfig: loadKubeConfig(kubeconfig), log, onNode: (id, node) => seen.set(id, node), onSettled: () => void (settled += 1) });
    watches.push(w);
    return { w, seen, lines, settled: () => settled };
  }
  const texts = (n: NodeAddresses | null | undefined) => n?.addresses.map((a) => a.text);

  it("follows each Node's addresses by the host id its name gives, as they change and when it goes", async () => {
    await api.apply({ apiVersion: "v1", kind: "Node", metadata: { name: "edge.a" } });
    await api.request("PATCH", `${NODES}/edge.a/status`, { status: { addresses: [{ type: "InternalIP", address: "198.18.0.11" }, { type: "Hostname", address: "edge.a" }] } }, { contentType: "application/merge-patch+json" });
    const { w, seen, settled } = watch(api.kubeconfig);
    await w.start();
    expect(w.listed).toBe(true);
    expect(settled()).toBe(1);
    await waitFor("edge-a seen", () => texts(seen.get("edge-a"))?.join() === "198.18.0.11", 10_000, 50);
    expect(seen.get("edge-a")?.node).toBe("edge.a");
    await api.request("PATCH", `${NODES}/edge.a/status`, { status: { addresses: [{ type: "InternalIP", address: "198.18.0.11" }, { type: "ExternalIP", address: "2001:db8::11" }] } }, { contentType: "application/merge-patch+json" });
    await waitFor("edge-a's new address", () => texts(seen.get("edge-a"))?.join() === "198.18.0.11,2001:db8::11", 10_000, 50);
    await api.delete(NODES, "edge.a");
    await waitFor("edge-a gone", () => seen.get("edge-a") === null, 10_000, 50);
    expect(settled()).toBe(1);
  }, 60_000);

  it("a user who may not list Nodes settles at once, with one warning naming the refusal, and keeps trying", async () => {
    const { w, lines, settled } = watch(api.kubeconfigFor(NOBODY));
    await w.start();
    expect(w.listed).toBe(false);
    expect(settled()).toBe(1);
    const warning = lines.find((l) => l.msg === "nodes not listed: registered addresses are judged by the host networks until they are");
    expect(warning).toMatchObject({ level: 40, code: 403 });
    await waitFor("a retry", () => w.restarts > 0, 10_000, 50);
    expect(settled()).toBe(1);
    expect(lines.filter((l) => l.msg === warning?.msg)).toHaveLength(1);
  }, 60_000);
});
