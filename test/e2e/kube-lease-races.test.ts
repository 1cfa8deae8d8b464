import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaderElector, loadKubeConfig, type KubeConfig } from "@fleetwall/controller/kube";
import { startKubeApi, type KubeApi } from "../harness/kube.js";
import { waitFor } from "../harness/sh.js";
import { captureLog as capture } from "../harness/log-capture.js";

// Leader election against a real kube-apiserver (test/harness/kube.ts) where clocks and races are
// concerned: a candidate whose clock runs 30 s ahead does not take a healthy lease; a leader whose
// renewals conflict (409: someone else wrote the Lease since its read) keeps leading; a release on
// shutdown clears only the record this replica last wrote. The pure rules: lease-record.test.ts.
const NS = "lease-races";
const LEASES = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;

let api: KubeApi;
let kc: KubeConfig;
beforeAll(async () => {
  api = await startKubeApi({ audit: true });
  await api.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
  kc = loadKubeConfig(api.kubeconfig);
}, 120_000);
afterAll(async () => api?.stop());

type Spec = { holderIdentity?: string; acquireTime?: string; renewTime?: string; leaseDurationSeconds?: number };
const spec = async (name: string) => (await api.get(LEASES, name))?.spec as Spec | undefined;
const untilAborted = (signal: AbortSignal) => new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));

describe("leader election: clocks and races, on a real API server", () => {
  it("a candidate whose clock runs 30 s ahead does not take a healthy lease; it takes it a lease duration after the leader stopped renewing", async () => {
    // the leader: renews the record every 300 ms with the true clock, as a healthy leader does
    const micro = (ms: number) => new Date(ms).toISOString().replace("Z", "000Z");
    await api.apply({ apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: "skew", namespace: NS }, spec: { holderIdentity: "true-clock", leaseDurationSeconds: 3, acquireTime: micro(Date.now()), renewTime: micro(Date.now()) } });
    let renewing = true;
    let lastRenewal = Date.now();
    const renewals = (async () => {
      while (renewing) {
        const lease = await api.get(LEASES, "skew");
        const now = Date.now();
        const r = await api.tryApply({ ...(lease as NonNullable<typeof lease>), spec: { ...(lease?.spec as object), renewTime: micro(now) } });
        if (r.status < 300) lastRenewal = now;
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    })();
    const candidateStop = new AbortController();
    let ledAt = 0;
    const skewed = new LeaderElector(kc, {
      namespace: NS,
      name: "skew",
      identity: "ahead",
      durationMs: 3000,
      retryMs: 300,
      now: () => Date.now() + 30_000,
      log: capture().log,
      lead: async (signal) => {
        ledAt = Date.now();
        await untilAborted(signal);
      },
    });
    const candidate = skewed.run(candidateStop.signal).catch(() => undefined);
    try {
      // three lease durations of a healthy leader: the old rule (renewTime + 3 s < its now) took it at once
      const until = Date.now() + 9000;
      while (Date.now() < until) {
        expect(skewed.isLeader).toBe(false);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect((await spec("skew"))?.holderIdentity).toBe("true-clock");
      expect(ledAt).toBe(0);
      // the leader dies (its renewals stop, nothing released): the candidate leads after a lease duration of silence
      renewing = false;
      await renewals;
      await waitFor("the skewed candidate leads", async () => ledAt > 0, 30_000, 100);
      expect(ledAt - lastRenewal).toBeGreaterThanOrEqual(3000);
      expect((await spec("skew"))?.holderIdentity).toBe("ahead");
    } finally {
      renewing = false;
      candidateStop.abort();
      await candidate;
    }
  }, 180_000);

  it("a leader whose renewals conflict (409) with other writers keeps leading (another identity taking it: kube-lease.test.ts)", async () => {
    const stop = new AbortController();
    let lost: unknown;
    const { log, lines } = capture();
    const leader = new LeaderElector(kc, { namespace: NS, name: "conflict", identity: "steady", durationMs: 4000, retryMs: 100, log, lead: untilAborted });
    const run = leader.run(stop.signal).catch((e: unknown) => void (lost = e));
    await waitFor("leading", async () => leader.isLeader, 30_000, 50);
    // someone else writes the Lease object now and then (an annotation: kubectl annotate), so some
    // of the leader's conditional replaces race them and are refused with 409; the old elector quit on the first
    const conflicts = () => api.audit().filter((e) => e.verb === "update" && e.objectRef?.name === "conflict" && e.responseStatus?.code === 409).length;
    const writers = Date.now() + 60_000;
    let n = 0;
    while (Date.now() < writers && conflicts() < 3 && lost === undefined) {
      await api.request("PATCH", `${LEASES}/conflict`, { metadata: { annotations: { poke: String(n++) } } }, { contentType: "application/merge-patch+json" });
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 60));
    }
    expect(conflicts()).toBeGreaterThanOrEqual(3);
    expect(lost).toBeUndefined();
    expect(leader.isLeader).toBe(true);
    expect((await spec("conflict"))?.holderIdentity).toBe("steady");
    expect(lines.some((l) => l.msg === "leader election won")).toBe(true);
    stop.abort();
    await run;
    expect(lost).toBeUndefined();
  }, 180_000);

  it("a release on shutdown leaves a record someone else wrote since under the same identity", async () => {
    const stop = new AbortController();
    // renewals far apart, so nothing of its own is written between the takeover below and the stop
    const leader = new LeaderElector(kc, { namespace: NS, name: "same-name", identity: "fixed", durationMs: 60_000, retryMs: 20_000, log: capture().log, lead: untilAborted });
    const run = leader.run(stop.signal).catch(() => undefined);
    await waitFor("leading", async () => leader.isLeader, 30_000, 50);
    // another process with the same --identity takes the lease over: a new tenure (acquireTime, resourceVersion)
    const lease = await api.get(LEASES, "same-name");
    const acquired = new Date(Date.now() + 1000).toISOString().replace("Z", "000Z");
    await api.apply({ ...(lease as NonNullable<typeof lease>), spec: { ...(lease?.spec as object), acquireTime: acquired, renewTime: acquired } });
    stop.abort();
    await run;
    expect(await spec("same-name")).toMatchObject({ holderIdentity: "fixed", acquireTime: acquired });

    // its own record it does clear on shutdown
    const stop2 = new AbortController();
    const again = new LeaderElector(kc, { namespace: NS, name: "own", identity: "fixed", durationMs: 60_000, retryMs: 20_000, log: capture().log, lead: untilAborted });
    const run2 = again.run(stop2.signal).catch(() => undefined);
    await waitFor("leading", async () => again.isLeader, 30_000, 50);
    stop2.abort();
    await run2;
    expect((await spec("own"))?.holderIdentity).toBeUndefined();
  }, 180_000);
});

