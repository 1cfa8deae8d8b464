import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PolicySet } from "@fleetwall/controller";
import { KubeSource, LeaderElector, LeadershipLostError, loadKubeConfig, type KubeConfig } from "@fleetwall/controller/kube";
import { CLI, REPO } from "../harness/fleet.js";
import { freePort } from "../harness/nats.js";
import { startKubeApi, type KubeApi } from "../harness/kube.js";
import { startProc } from "../harness/procs.js";
import { waitFor } from "../harness/sh.js";
import { captureLog as capture } from "../harness/log-capture.js";

// The leader elector and the Kubernetes source in this process against a real kube-apiserver
// (test/harness/kube.ts). The elector writes what the server accepts (MicroTime), a clean stop and
// failing work both give the Lease up, a lease taken away stops the work. Errors a person can act on:
// a missing namespace, a missing CRD and a forbidden verb are each one line that says what to do,
// retried with backoff, in the process too (its log as a user reads it). Two controller processes
// taking over from each other: kube.test.ts.
const NOBODY = "system:serviceaccount:elsewhere:nobody";
const NS = "lease-test";
const LEASES = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;

// one server for the file: the elector needs no CRDs, and the source's first test applies them
let api: KubeApi;
beforeAll(async () => {
  api = await startKubeApi({ users: [NOBODY] });
  await api.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
});
afterAll(async () => api?.stop());

describe("leader election on a real API server", () => {
  let kc: KubeConfig;
  const spec = async (name: string) => (await api.get(LEASES, name))?.spec as { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number } | undefined;

  beforeAll(() => {
    kc = loadKubeConfig(api.kubeconfig);
  });

  const elector = (name: string, identity: string, lead: (signal: AbortSignal) => Promise<void>, log = capture().log, namespace = NS) =>
    new LeaderElector(kc, { namespace, name, identity, durationMs: 4000, retryMs: 300, lead, log });
  const untilAborted = (signal: AbortSignal) => new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));

  it("leads, renews with MicroTime the server accepts, and on a clean stop releases the Lease", async () => {
    const ac = new AbortController();
    let leading = false;
    const run = elector("clean", "a", async (signal) => {
      leading = true;
      await untilAborted(signal);
    }).run(ac.signal);
    await waitFor("leading", () => leading, 30_000);
    const first = (await spec("clean"))?.renewTime;
    expect(first).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    await waitFor("renewed", async () => (await spec("clean"))?.renewTime !== first, 30_000);
    ac.abort();
    await run;
    expect(await spec("clean")).toMatchObject({ leaseDurationSeconds: 1 });
    expect((await spec("clean"))?.holderIdentity).toBeUndefined();
    // and another candidate takes it at once
    const ac2 = new AbortController();
    let bLeads = false;
    const runB = elector("clean", "b", async (signal) => {
      bLeads = true;
      await untilAborted(signal);
    }).run(ac2.signal);
    await waitFor("b leading", () => bLeads, 30_000);
    ac2.abort();
    await runB;
  });

  it("work that fails stops the renewal and gives the Lease up; run rejects with the work's error", async () => {
    const boom = new Error("the leader's work failed");
    const run = elector("failing", "a", async () => {
      await new Promise((r) => setTimeout(r, 700));
      throw boom;
    }).run(new AbortController().signal);
    await expect(run).rejects.toBe(boom);
    const after = await spec("failing");
    expect(after?.holderIdentity).toBeUndefined();
    await new Promise((r) => setTimeout(r, 1000)); // three renew periods: nothing renews it any more
    expect((await spec("failing"))?.renewTime).toBe(after?.renewTime);
  });

  it("as parts for a supervisor: acquire, then hold renews until aborted and releases", async () => {
    const e = elector("parts", "a", async () => undefined);
    const ac = new AbortController();
    expect(await e.acquire(ac.signal)).toBe(true);
    const held = e.hold(ac.signal);
    const first = (await spec("parts"))?.renewTime;
    await waitFor("renewed", async () => (await spec("parts"))?.renewTime !== first, 30_000);
    ac.abort();
    await held;
    expect((await spec("parts"))?.holderIdentity).toBeUndefined();
    // a standby's acquire resolves false when aborted first
    const other = new AbortController();
    const waiting = elector("taken-by-b", "b", async () => undefined);
    const bHolds = new AbortController();
    expect(await waiting.acquire(bHolds.signal)).toBe(true);
    const c = elector("taken-by-b", "c", async () => undefined).acquire(other.signal);
    setTimeout(() => other.abort(), 700);
    expect(await c).toBe(false);
    bHolds.abort();
  });

  it("two processes given one identity: the second does not lead under the first's term, and neither releases the other's lease", async () => {
    const first = new AbortController();
    let firstLeads = false;
    const runFirst = elector("twins", "twin", async (signal) => {
      firstLeads = true;
      await untilAborted(signal);
    }).run(first.signal);
    await waitFor("the first twin leads", () => firstLeads, 30_000);
    const held = (await api.get(LEASES, "twins"))?.spec as { acquireTime?: string; leaseTransitions?: number };
    const second = new AbortController();
    const seen = capture();
    let secondLeads = false;
    const runSecond = elector("twins", "twin", async (signal) => {
      secondLeads = true;
      await untilAborted(signal);
    }, seen.log).run(second.signal);
    await waitFor("the second twin waits", () => seen.lines.some((l) => l.msg === "lease held by another replica" && l.holder === "twin (another process with this identity)"), 30_000);
    // the first keeps renewing its own term meanwhile
    const renewed = (await spec("twins"))?.renewTime;
    await waitFor("renewed by the first", async () => (await spec("twins"))?.renewTime !== renewed, 30_000);
    second.abort();
    await runSecond;
    expect(secondLeads).toBe(false);
    // the second's exit did not release the first's lease
    expect(await api.get(LEASES, "twins")).toMatchObject({ spec: { holderIdentity: "twin", leaseDurationSeconds: 4, acquireTime: held.acquireTime, leaseTransitions: held.leaseTransitions } });
    first.abort();
    await runFirst;
    expect((await spec("twins"))?.holderIdentity).toBeUndefined();
  });

  it("two controller processes started by hand have different identities by default", async () => {
    const logs = mkdtempSync(join(tmpdir(), "fleetwall-ids-"));
    const identity = async (n: number) => {
      const out = await new Promise<string>((resolve, reject) => {
        const p = startProc(`print-config-${n}`, ["node", CLI, "controller", "--source", "kube", "--nats", "nats://127.0.0.1:4222", "--print-config"], logs);
        void p.exited.then((code) => (code === 0 ? resolve(p.log()) : reject(new Error(p.log()))));
      });
      return (JSON.parse(out) as { identity: string }).identity;
    };
    const [a, b] = [await identity(1), await identity(2)];
    rmSync(logs, { recursive: true, force: true });
    expect(a).not.toBe(b);
    expect(a.startsWith(`${(await import("node:os")).hostname()}-`)).toBe(true);
  });

  it("a lease another replica took stops the work; run rejects with LeadershipLostError", async () => {
    let aborted = false;
    let leading = false;
    const run = elector("taken", "a", async (signal) => {
      leading = true;
      await untilAborted(signal);
      aborted = true;
    }).run(new AbortController().signal);
    await waitFor("leading", () => leading, 30_000);
    const lease = await api.get(LEASES, "taken");
    await api.apply({ ...(lease as NonNullable<typeof lease>), spec: { ...(lease?.spec as object), holderIdentity: "intruder", renewTime: new Date(Date.now() + 60_000).toISOString().replace("Z", "000Z") } });
    await expect(run).rejects.toBeInstanceOf(LeadershipLostError);
    expect(aborted).toBe(true);
    expect((await spec("taken"))?.holderIdentity).toBe("intruder"); // not "released" from under its new holder
  });

  it("a missing namespace is one line naming it, the flag and the fix, retried with backoff, not a stack every retry", async () => {
    const { log, lines } = capture();
    const ac = new AbortController();
    const run = elector("x", "a", async () => undefined, log, "no-such-namespace").run(ac.signal);
    await waitFor("three attempts", () => lines.filter((l) => l.msg === "lease not acquired; retrying").length >= 3, 30_000);
    ac.abort();
    await run;
    const failures = lines.filter((l) => l.msg === "lease not acquired; retrying");
    expect(failures[0]).toMatchObject({ code: 404, reason: "NotFound", object: "create no-such-namespace/leases/x", fix: expect.stringContaining("kubectl create namespace no-such-namespace") });
    expect(failures[0]?.fix).toContain("--lease-namespace");
    expect(JSON.stringify(lines)).not.toContain("stack");
    // backing off: each wait twice the one before
    expect(failures.slice(0, 3).map((l) => l.retryInMs)).toEqual([300, 600, 1200]);
  });
});

describe("the Kubernetes source's errors on a real API server", () => {
  const source = (kubeconfig: string, log = capture().log) => {
    const sets: PolicySet[] = [];
    const s = new KubeSource({ kubeconfig: loadKubeConfig(kubeconfig), relistMs: 600_000, log, onPolicies: (set) => sets.push(set), onHostLabels: () => undefined });
    return { s, sets };
  };

  it("without the CRDs: one line per kind saying to apply crds/ first, backing off; no policy set until they are there", async () => {
    const { log, lines } = capture();
    const { s, sets } = source(api.kubeconfig, log);
    await s.start();
    try {
      const failed = () => lines.filter((l) => l.msg === "informer failed; restarting" && l.plural === "firewallpolicies");
      await waitFor("three attempts", () => failed().length >= 3, 30_000);
      expect(failed()[0]).toMatchObject({ code: 404, object: "list firewallpolicies", fix: expect.stringContaining("kubectl apply -f crds/") });
      expect(failed().slice(0, 3).map((l) => l.retryInMs)).toEqual([500, 1000, 2000]);
      expect(JSON.stringify(lines)).not.toContain("stack");
      expect(s.synced).toBe(false);
      expect(sets).toEqual([]); // an unserved kind is not "no policies" (that would empty every host)
      for (const f of readdirSync(join(REPO, "crds"))) await api.applyYaml(readFileSync(join(REPO, "crds", f), "utf8"));
      await waitFor("listed once the CRDs are there", () => s.synced && sets.length > 0, 60_000);
      expect(sets.at(-1)).toMatchObject({ policies: [], banLists: [], errors: [] });
    } finally {
      await s.stop();
    }
  });

  it("a forbidden verb: one line naming the verb, the resource and RBAC", async () => {
    const { log, lines } = capture();
    const { s } = source(api.kubeconfigFor(NOBODY), log);
    await s.start();
    try {
      await waitFor("refused", () => lines.find((l) => l.msg === "informer failed; restarting" && l.plural === "banlists"), 30_000);
      const line = lines.find((l) => l.msg === "informer failed; restarting" && l.plural === "banlists");
      expect(line).toMatchObject({ code: 403, reason: "Forbidden", object: "list banlists", error: expect.stringContaining(NOBODY) });
      expect(line?.fix).toMatch(/^RBAC does not allow verb list on banlists/);
      expect(s.synced).toBe(false);
    } finally {
      await s.stop();
    }
  });
});

describe("the controller process on a real API server", () => {
  it("with the Lease's namespace missing: one line per attempt naming it, the flag and the fix, backing off; SIGTERM exits 0", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fleetwall-lease-ns-"));
    const proc = startProc("controller", ["node", CLI, "controller", "--source", "kube", "--kubeconfig", api.kubeconfig, "--lease-namespace", "fleetwall-missing", "--lease-retry", "200ms", "--nats", "nats://127.0.0.1:1", "--signing-key", join(dir, "key.pem"), "--listen", `127.0.0.1:${await freePort()}`], join(dir, "logs"));
    try {
      const attempts = () => proc.log().split("\n").filter((l) => l.includes("lease not acquired"));
      await waitFor("four attempts", () => attempts().length >= 4, 30_000, 100);
      const lines = attempts().map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines[0]).toMatchObject({ level: 40, code: 404, reason: "NotFound", object: "create fleetwall-missing/leases/fleetwall-controller" });
      expect(lines[0]?.fix).toMatch(/namespace fleetwall-missing does not exist.*kubectl create namespace fleetwall-missing.*--lease-namespace/);
      expect(lines.slice(0, 4).map((l) => l.retryInMs)).toEqual([200, 400, 800, 1600]);
      expect(proc.log()).not.toContain("stack");
      proc.child.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
    } finally {
      await proc.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
