import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV, type KvWatchEntry } from "@nats-io/kv";
import { DESIRED_BUCKET, DesiredState, envelopeText, loadSigningKey, parseEnvelopeText, signPayload } from "@fleetwall/api";
import { createFleet, type Fleet, type FleetHost } from "../harness/fleet.js";
import { freePort } from "../harness/nats.js";
import type { Proc } from "../harness/procs.js";
import { waitFor } from "../harness/sh.js";

// A second writer of the desired bucket, with the controller's own signing key: a put by hand, and a
// misconfigured second controller (another policy directory; with Kubernetes, another --lease-name).
// Real fleet (namespaces, nft, packets), real nats-server, the bundled controller and agent. The
// leader watches the bucket: it names the host in one warning and publishes it again above every
// revision seen, within seconds; the agent accepts a revision only above the applied one, or the
// applied one with the same hash, so two signed states under one revision are never both applied.
// Every write to the host's key is recorded from the test's own watch: no revision holds two states.
const POLICY = `apiVersion: fleetwall.io/v1alpha1
kind: FirewallPolicy
metadata: {name: edge}
spec:
  hostSelector: {}
  defaultInput: Accept
  ingress:
    - {name: deny, action: Reject, protocol: tcp, ports: [8081]}
`;

const dec = new TextDecoder();
const stateOf = (value: Uint8Array) => {
  const env = parseEnvelopeText(dec.decode(value));
  if (!env.success) throw new Error("not an envelope");
  return DesiredState.parse(JSON.parse(env.data.payload));
};

describe("another writer of a host's desired state", () => {
  let fleet: Fleet;
  let web: FleetHost;
  let nc: NatsConnection;
  let desired: KV;
  let leader: Proc;
  /** Every put to the host's key, in order: revision and hash. */
  const history: { revision: number; hash: string }[] = [];

  const outcome = async () => (await fleet.probeDetail([`tcp:${web.ip4}:8081`], { timeoutMs: 1000 }))[`tcp:${web.ip4}:8081`];
  const current = async () => {
    const e = await desired.get(web.id);
    if (!e) throw new Error("no desired state");
    return stateOf(e.value);
  };
  /** The leader's state, signed with the controller's key, but with no policy (8081 open) and another hash. */
  const forge = async (revision: number) => {
    const ours = await current();
    const key = loadSigningKey(readFileSync(fleet.signingKey, "utf8"));
    const state = { ...ours, revision, hash: `forged-${revision}`, policies: [], ruleset: { ...ours.ruleset, policies: [] } };
    return envelopeText(signPayload(key, JSON.stringify(state)));
  };
  const overwrittenWarnings = () => leader.log().split("\n").filter((l) => l.includes("desired state overwritten by another writer"));

  beforeAll(async () => {
    fleet = await createFleet([{ id: "w1", labels: "role=web" }]);
    web = fleet.hosts[0] as FleetHost;
    await fleet.listen(["tcp:8081"]);
    fleet.writePolicy("edge.yaml", POLICY);
    leader = await fleet.startController();
    fleet.startAgent(web);
    await fleet.waitInSync(60_000);
    await waitFor("8081 rejected", async () => (await outcome()) === "refused", 30_000, 200);
    nc = await connect({ servers: fleet.natsUrls });
    desired = await new Kvm(nc).open(DESIRED_BUCKET, { bindOnly: true });
    const watch = await desired.watch({ key: web.id, ignoreDeletes: true });
    void (async () => {
      for await (const e of watch as AsyncIterable<KvWatchEntry>) {
        const s = stateOf(e.value);
        history.push({ revision: s.revision, hash: s.hash });
      }
    })();
    await waitFor("the test's watch has the key", () => history.length > 0, 30_000, 50);
  }, 180_000);

  afterAll(async () => {
    await nc?.close();
    await fleet?.destroy();
  });

  it("a signed state put by hand under the applied revision with other content: the agent drops it, the leader republishes above it", async () => {
    const before = await current();
    await desired.put(web.id, await forge(before.revision));
    await waitFor("the agent drops it", () => (web.agent?.log() ?? "").includes("two states under one revision"), 60_000, 100);
    await waitFor("the leader republishes its state above the forged revision", async () => {
      const now = await current();
      return now.revision > before.revision && now.hash === before.hash;
    }, 20_000, 100);
    expect(await outcome()).toBe("refused"); // never opened: the forged state was not applied
    expect(overwrittenWarnings()).toHaveLength(1);
    expect(JSON.parse(overwrittenWarnings()[0] as string)).toMatchObject({ host: web.id, republishAbove: before.revision });
  }, 180_000);

  it("a signed state put by hand with a higher revision: applied (8081 opens), then the leader restores the host within seconds", async () => {
    const before = await current();
    await desired.put(web.id, await forge(before.revision + 10));
    await waitFor("the leader restores its state above the forged revision", async () => {
      const now = await current();
      return now.revision > before.revision + 10 && now.hash === before.hash;
    }, 30_000, 100);
    await waitFor("8081 rejected again", async () => (await outcome()) === "refused", 30_000, 200);
    await fleet.waitInSync(30_000);
    expect(overwrittenWarnings()).toHaveLength(2);
  }, 180_000);

  it("a second controller with the same key and other policies overwrites the host; stopped, the leader restores it", async () => {
    const before = await current();
    const otherDir = join(fleet.dir, "other-policies");
    mkdirSync(otherDir, { recursive: true });
    writeFileSync(join(otherDir, "README"), "no policies here\n");
    const second = await fleet.startController(["--source", `dir:${otherDir}`, "--listen", `127.0.0.1:${await freePort()}`]);
    await waitFor("the second controller writes the host", () => second.log().includes('"desired state published"'), 30_000, 100);
    await second.stop(10_000);
    await waitFor("the leader restores its state", async () => {
      const now = await current();
      return now.hash === before.hash && now.revision > before.revision + 1;
    }, 60_000, 200);
    await waitFor("8081 rejected", async () => (await outcome()) === "refused", 30_000, 200);
    await fleet.waitInSync(30_000);
    expect(overwrittenWarnings().length).toBeGreaterThanOrEqual(3);
    const metrics = (await fleet.httpGet(`http://${fleet.controllerHttp}/metrics`)).body;
    expect(Number(/^fleetwall_controller_desired_overwritten_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(3);
    expect(leader.log()).not.toMatch(/MaxListenersExceededWarning/);
  }, 120_000);

  it("no revision of the host's key ever held two states (from the test's own watch of every write)", () => {
    const byRevision = new Map<number, Set<string>>();
    for (const { revision, hash } of history) byRevision.set(revision, (byRevision.get(revision) ?? new Set()).add(hash));
    const shared = [...byRevision].filter(([, hashes]) => hashes.size > 1).map(([r]) => r);
    // the only one: the forged put of the first test, made under the leader's revision on purpose
    expect(shared).toHaveLength(1);
    // and what the agent applied rose strictly: never the same revision twice with another state
    const applied = (web.agent?.log() ?? "").split("\n").filter((l) => l.includes('"ruleset applied"')).map((l) => (JSON.parse(l) as { revision: number }).revision);
    expect(applied.length).toBeGreaterThan(2);
    expect(applied).toEqual([...applied].sort((a, b) => a - b));
    expect(new Set(applied).size).toBe(applied.length);
  });
});
