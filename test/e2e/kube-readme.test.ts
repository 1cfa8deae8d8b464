import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, createFleet, REPO, type Fleet, type FleetHost } from "../harness/fleet.js";
import { freePort } from "../harness/nats.js";
import { startKubeApi, type KubeApi } from "../harness/kube.js";
import { sh, waitFor } from "../harness/sh.js";

// The README's Kubernetes section, followed literally against a real kube-apiserver (with an audit
// log): its shell blocks are read from README.md and each command runs as written, with the real
// kubectl and helm (scripts/helm.sh) and the bundled fleetwall. The chart is installed with helm; its
// Deployment has no kubelet to run it, so the test runs the controller as the Deployment's pod would:
// its args, as its ServiceAccount (a token user system:serviceaccount:fleetwall:fleetwall), with that
// account's RBAC only. Agents run in a test fleet (namespaces, real packets). Then the audit log
// shows that every verb the chart grants was used, no other was, and nothing was refused.
const NS = "fleetwall";
const SA = `system:serviceaccount:${NS}:fleetwall`;
const FWH = "/apis/fleetwall.io/v1alpha1/firewallhosts";

/** Each command of the README's Kubernetes section's ```sh blocks (comments dropped, `\` lines joined), by block. */
function readmeCommands(): string[][] {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Kubernetes\n"), readme.indexOf("\n## ", readme.indexOf("## Kubernetes\n") + 1));
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
    (m[1] as string).replace(/\\\n\s*/g, "").split("\n").map((l) => l.replace(/(^|\s+)#.*$/, "").trim()).filter(Boolean),
  );
}

/** The columns the README's comment after a `kubectl get` command promises (`# one per agent: A, B, C`). */
function promisedColumns(command: string): string[] {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const line = readme.split("\n").find((l) => l.startsWith(`${command} `) && l.includes("#"));
  const comment = (line?.split("#")[1] ?? "").trim();
  return comment.slice(comment.indexOf(":") + 1).split(",").map((c) => c.trim()).filter(Boolean);
}

/** `kubectl get` output as rows of cells by column header (cut at the header's column starts). */
function columns(text: string): Record<string, string>[] {
  const [header = "", ...lines] = text.split("\n").filter((l) => l.trim());
  const starts = [...header.matchAll(/\S+(?: \S+)*/g)].map((m) => ({ name: m[0], at: m.index }));
  return lines.map((l) => Object.fromEntries(starts.map((c, i) => [c.name, l.slice(c.at, starts[i + 1]?.at ?? l.length).trim()])));
}

describe("the README's Kubernetes section, on a real API server", () => {
  let api: KubeApi;
  let fleet: Fleet;
  let web1: FleetHost;
  let web2: FleetHost;
  let work: string;
  let blocks: string[][];
  const outputs = new Map<string, string>();
  const env = () => ({ ...process.env, KUBECONFIG: api.kubeconfig, PATH: `${join(work, "bin")}:${process.env.PATH}`, HOME: work });
  /** One README command, as a user types it in the shell (cwd: a directory with the repository's crds/, charts/ and examples/). */
  const run = (command: string) =>
    new Promise<string>((resolve, reject) => {
      execFile("bash", ["-euo", "pipefail", "-c", command], { cwd: work, env: env(), timeout: 120_000 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`${command}: ${stderr || error.message}`));
        else resolve(stdout);
      });
    });
  const kubectlAs = (user: string, args: string[]) => sh(join(work, "bin", "kubectl"), ["--kubeconfig", api.kubeconfigFor(user), ...args]).then((out) => ({ ok: true, out }), (e: Error) => ({ ok: false, out: e.message }));
  const outcome = async (pairs: [FleetHost, number][]) => {
    const r = await fleet.probeDetail(pairs.map(([h, p]) => `tcp:${h.ip4}:${p}`), { timeoutMs: 1000 });
    return pairs.map(([h, p]) => r[`tcp:${h.ip4}:${p}`]);
  };
  const table = async (path: string, name: string) => (await api.table(path)).find((r) => r.Name === name);

  beforeAll(async () => {
    blocks = readmeCommands();
    api = await startKubeApi({ users: [SA], audit: true });
    await sh("bash", [join(REPO, "scripts/helm.sh")]);
    work = mkdtempSync(join(tmpdir(), "fleetwall-readme-"));
    mkdirSync(join(work, "bin"));
    for (const d of ["crds", "charts", "examples"]) symlinkSync(join(REPO, d), join(work, d));
    for (const tool of ["kubectl", "helm"]) symlinkSync(join(REPO, ".cache/helm", tool), join(work, "bin", tool));
    writeFileSync(join(work, "bin", "fleetwall"), `#!/bin/sh\nexec node ${CLI} "$@"\n`);
    chmodSync(join(work, "bin", "fleetwall"), 0o755);
    fleet = await createFleet([
      { id: "web-1", labels: "role=web" },
      { id: "web-2", labels: "role=db" },
    ]);
    [web1, web2] = fleet.hosts as [FleetHost, FleetHost];
    await fleet.listen(["tcp:80", "tcp:8080"]);
  }, 180_000);

  afterAll(async () => {
    await fleet?.destroy();
    await api?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("has the commands this test follows", () => {
    expect(blocks.map((b) => b.map((c) => c.split(" ").slice(0, 3).join(" ")))).toEqual([
      ["kubectl apply -f", "fleetwall keygen --out", "kubectl create namespace", "kubectl -n fleetwall", "helm install fleetwall"],
      ["kubectl apply -f", "kubectl apply -f", "kubectl get firewallpolicies", "kubectl get firewallhosts", "kubectl get banlists", "kubectl label fwh", "kubectl explain firewallpolicy.spec"],
    ]);
  });

  it("installs: the CRDs, a signing key, the namespace, its Secret, and the chart (helm install)", async () => {
    for (const command of blocks[0] as string[]) outputs.set(command, await run(command));
    const secret = await api.get(`/api/v1/namespaces/${NS}/secrets`, "fleetwall-signing-key");
    expect(Object.keys((secret?.data as Record<string, string>) ?? {}).sort()).toEqual(["signing-key.pem", "signing-key.pem.pub"]);
    expect(await api.get(`/api/v1/namespaces/${NS}/serviceaccounts`, "fleetwall")).toBeDefined();
    expect(await api.get("/apis/rbac.authorization.k8s.io/v1/clusterroles", "fleetwall-controller")).toBeDefined();
    expect(await api.get(`/apis/apps/v1/namespaces/${NS}/deployments`, "fleetwall-controller")).toBeDefined();
  });

  it("the controller runs as the Deployment's pod would, as its ServiceAccount, and agents register", async () => {
    const deploy = await api.get(`/apis/apps/v1/namespaces/${NS}/deployments`, "fleetwall-controller");
    const container = (deploy?.spec as { template: { spec: { serviceAccountName: string; containers: { args: string[] }[] } } }).template.spec;
    expect(`system:serviceaccount:${NS}:${container.serviceAccountName}`).toBe(SA);
    const args = container.containers[0]?.args ?? [];
    expect(args[0]).toBe("controller");
    // what the pod has from Kubernetes: its name and namespace (env), its token (here: a kubeconfig for the same user)
    fleet.signingKey = join(work, "fleetwall-key", "signing-key.pem");
    fleet.controllerHttp = `127.0.0.1:${await freePort()}`;
    // the chart's listeners take fixed ports on every address: here, free loopback ones
    const probes = `127.0.0.1:${await freePort()}`;
    expect(args).toContain("--probe-listen=0.0.0.0:8081");
    await fleet.startController([...args.slice(1), "--kubeconfig", api.kubeconfigFor(SA), "--identity", "fleetwall-controller-7d9c-x1", "--lease-namespace", NS, "--listen", fleet.controllerHttp, "--probe-listen", probes]);
    // where the chart's liveness probe goes: /healthz on the probe listener, and nothing else there
    await waitFor("/healthz on the probe listener", async () => (await fetch(`http://${probes}/healthz`).catch(() => undefined))?.status === 200, 30_000, 200);
    expect((await fetch(`http://${probes}/metrics`)).status).toBe(404);
    for (const h of fleet.hosts) fleet.startAgent(h);
    await waitFor("a FirewallHost per agent", async () => (await api.list(FWH)).length === 2, 60_000, 200);
    expect(((await api.get(`/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`, "fleetwall-controller"))?.spec as { holderIdentity: string }).holderIdentity).toBe("fleetwall-controller-7d9c-x1");
  });

  it("rolls a policy out: kubectl apply, get (SELECTED/APPLIED/READY), label — enforced on the hosts", async () => {
    const [applyPolicy, applyBans, getPolicies, getHosts, getBanLists, label, explain] = blocks[1] as string[];
    expect(await run(applyPolicy as string)).toContain("firewallpolicy.fleetwall.io/web-servers created");
    // web-1 (role=web): 80 open, everything else dropped; web-2 (role=db) untouched
    await waitFor("web-servers enforced on web-1", async () => JSON.stringify(await outcome([[web1, 80], [web1, 8080], [web2, 8080]])) === '["open","timeout","open"]', 60_000, 200);
    expect(await run(applyBans as string)).toMatch(/banlist.fleetwall.io\/manual created[\s\S]*banlist.fleetwall.io\/admin-networks created/);

    await waitFor("the policy's status", async () => (await table("/apis/fleetwall.io/v1alpha1/firewallpolicies", "web-servers"))?.Ready === "True", 30_000, 200);
    outputs.set("policies", await run(getPolicies as string));
    expect(columns(outputs.get("policies") as string)).toEqual([{ NAME: "web-servers", MODE: "Enforce", SELECTED: "1", APPLIED: "1", FAILED: "0", READY: "True", AGE: expect.any(String) }]);

    await waitFor("both hosts in sync", async () => (await api.table(FWH)).every((r) => r["In sync"] === "True"), 30_000, 200);
    const hosts = columns(await run(getHosts as string));
    for (const [command, rows] of [[getPolicies, columns(outputs.get("policies") ?? "")], [getHosts, hosts]] as const) {
      expect(promisedColumns(command as string).length).toBeGreaterThan(3);
      for (const column of promisedColumns(command as string)) expect(Object.keys(rows[0] ?? {}), `${command}: ${column}`).toContain(column);
    }
    expect(hosts.map((h) => [h.NAME, h["IN SYNC"]])).toEqual([["web-1", "True"], ["web-2", "True"]]);

    // every entry active on both hosts: the status writer sets the counts as the hosts' reports come
    await waitFor("the ban lists' status", async () => (await api.table("/apis/fleetwall.io/v1alpha1/banlists")).every((r) => r.Hosts === 2 && r.Active === r.Entries), 30_000, 200);
    const banLists = columns(await run(getBanLists as string));
    expect(banLists.map((r) => [r.NAME, r.TYPE, r.ENTRIES, r.ACTIVE, r.HOSTS])).toEqual([["admin-networks", "Allow", "1", "1", "2"], ["manual", "Deny", "2", "2", "2"]]);
    for (const column of promisedColumns(getBanLists as string)) expect(Object.keys(banLists[0] ?? {})).toContain(column);

    expect(await run(label as string)).toContain("firewallhost.fleetwall.io/web-2 labeled");
    await waitFor("web-servers enforced on web-2 too", async () => JSON.stringify(await outcome([[web2, 80], [web2, 8080]])) === '["open","timeout"]', 60_000, 200);
    await waitFor("two selected, two applied", async () => {
      const row = await table("/apis/fleetwall.io/v1alpha1/firewallpolicies", "web-servers");
      return row?.Selected === 2 && row.Applied === 2 && row.Ready === "True";
    }, 30_000, 200);
    expect(columns(await run(getPolicies as string))[0]).toMatchObject({ SELECTED: "2", APPLIED: "2", FAILED: "0", READY: "True" });
    // the agent's next registrations leave the operator's label alone
    await new Promise((r) => setTimeout(r, 2000));
    expect((await api.get(FWH, "web-2"))?.metadata.labels).toEqual({ role: "web" });

    expect(await run(explain as string)).toMatch(/hostSelector/);
  });

  it("an agent that proposes other labels gets them on its FirewallHost (the patch verb)", async () => {
    await web1.agent?.stop();
    fleet.startAgent(web1, ["--labels", "role=web,zone=a"]);
    await waitFor("zone=a proposed", async () => (await api.get(FWH, "web-1"))?.metadata.labels?.zone === "a", 30_000, 200);
    expect((await api.get(FWH, "web-1"))?.metadata.labels).toEqual({ role: "web", zone: "a" });
  });

  it("the chart's RBAC is exactly what the controller used: every granted verb used, no other, none refused", async () => {
    const rendered = parseAllDocuments(await sh(join(work, "bin", "helm"), ["template", "fleetwall", join(REPO, "charts/fleetwall"), "-n", NS])).map((d) => d.toJS() as { kind: string; rules?: { resources: string[]; verbs: string[]; resourceNames?: string[] }[] });
    const granted = new Set(rendered.filter((o) => o.kind === "ClusterRole" || o.kind === "Role").flatMap((o) => (o.rules ?? []).flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${v} ${res}`)))));
    const mine = api.audit().filter((e) => e.user.username === SA && e.objectRef?.resource);
    const used = new Set(mine.map((e) => `${e.verb} ${e.objectRef?.resource}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ""}`));
    expect(mine.filter((e) => e.responseStatus?.code === 403).map((e) => `${e.verb} ${e.requestURI}`)).toEqual([]);
    expect([...used].sort()).toEqual([...granted].sort());
  });

  it("and nothing more is granted: other verbs are refused to the ServiceAccount", async () => {
    for (const args of [["delete", "fwh", "web-1"], ["get", "secrets", "-n", NS], ["delete", "fwp", "web-servers"], ["create", "namespace", "x"]]) {
      const r = await kubectlAs(SA, args);
      expect(r, args.join(" ")).toMatchObject({ ok: false, out: expect.stringMatching(/forbidden/i) });
    }
    // its Lease only: another Lease in its namespace cannot be read or written
    expect(await kubectlAs(SA, ["auth", "can-i", "update", "leases/other", "-n", NS])).toMatchObject({ ok: false }); // "no", exit 1
    expect(await kubectlAs(SA, ["auth", "can-i", "update", "leases/fleetwall-controller", "-n", NS])).toEqual({ ok: true, out: "yes\n" });
  });
});
