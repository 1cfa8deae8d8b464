import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { headers } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { jetstream } from "@nats-io/jetstream";
import { HOSTS_BUCKET, SCHEMA_VERSION, signalSubject, type BanSignal } from "@fleetwall/api";
import { securedFleet, type SecuredFleet } from "../harness/secured-fleet.js";
import type { FleetHost } from "../harness/fleet.js";
import { waitFor } from "../harness/sh.js";

// #18 (rollup): one agent's nkey put its own registration with `Nats-Rollup: all`, and the hosts
// bucket lost every other host's registration; after a controller restart those hosts were unknown
// and their addresses bannable fleet-wide. The bucket now refuses rollups.
describe("an agent's put with Nats-Rollup removes no other host's registration (#18)", () => {
  let s: SecuredFleet;
  let t1: FleetHost;
  let t2: FleetHost;
  let t3: FleetHost;

  const refusedAsHost = async () => {
    const { body } = await s.fleet.httpGet(`http://${s.fleet.controllerHttp}/metrics`);
    return Number(body.split("\n").find((l) => l.startsWith('fleetwall_controller_signals_refused{reason="fleet-host"}'))?.split(" ").pop() ?? 0);
  };

  beforeAll(async () => {
    s = await securedFleet(["t1", "t2", "t3"]);
    [t1, t2, t3] = s.fleet.hosts as [FleetHost, FleetHost, FleetHost];
  }, 120_000);

  afterAll(async () => {
    await s?.destroy();
  });

  it("t1's nkey puts its own registration with Nats-Rollup all and sub: refused; t2 and t3 stay in the bucket, and after a controller restart are still fleet hosts", async () => {
    const agent = await s.as("agent-t1");
    const reg = { schemaVersion: SCHEMA_VERSION, hostId: "t1", labels: { host: "t1" }, addresses: [t1.ip4, t1.ip6], agentVersion: "x", nftVersion: "x", startedAt: new Date().toISOString() };
    for (const rollup of ["all", "sub"]) {
      const h = headers();
      h.set("Nats-Rollup", rollup);
      const reply = (await agent.request(`$KV.${HOSTS_BUCKET}.t1`, JSON.stringify(reg), { headers: h, timeout: 10_000 })).string();
      expect(reply, `Nats-Rollup: ${rollup}`).toMatch(/"error".*rollup/i);
    }
    const hosts = await new Kvm(await s.as("controller")).open(HOSTS_BUCKET);
    for (const h of [t2, t3]) expect(JSON.parse((await hosts.get(h.id))?.string() ?? "null")?.addresses, h.id).toContain(h.ip4);

    await s.fleet.controller?.stop();
    await s.fleet.startController(["--nats-nkey", join(s.creds, "controller.nk")]);
    await waitFor("the controller ready", async () => (await s.fleet.httpGet(`http://${s.fleet.controllerHttp}/readyz`).catch(() => ({ status: 0 }))).status === 200, 60_000, 200);
    const listed = await s.fleet.cli(["hosts", "list", ...s.operator]);
    // listed with its protected address, whatever its state says ("never seen" until a report comes)
    for (const h of [t2, t3]) expect(listed).toMatch(new RegExp(`^${h.id}\\s.*\\s\\S*${h.ip4.replace(/\./g, "\\.")}[,\\s]`, "m"));
    const status = await s.fleet.cli(["status", ...s.operator]);
    for (const h of [t2, t3]) expect(status).toMatch(new RegExp(`^${h.id}\\s`, "m"));

    // a signal from t1 naming t2 (and its SIIT form, ::ffff:0:a.b.c.d) is refused as a fleet host
    const [a, b, c, d] = t2.ip4.split(".").map(Number) as [number, number, number, number];
    const siit = `::ffff:0:${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
    const before = await refusedAsHost();
    const js = jetstream(agent);
    for (const address of [t2.ip4, siit]) await js.publish(signalSubject("t1"), JSON.stringify({ schemaVersion: SCHEMA_VERSION, hostId: "t1", jail: "sshd", address, failures: 5, at: new Date().toISOString(), banSeconds: 3600 } satisfies BanSignal));
    await waitFor("both signals refused as a fleet host", async () => (await refusedAsHost()) >= before + 2, 30_000, 100);
    const fleetBans = s.fleet.controller?.log().split("\n").filter((l) => l.includes('"msg":"fleet ban"')) ?? [];
    expect(fleetBans.filter((l) => l.includes(t2.ip4) || l.includes(siit))).toEqual([]);
    expect(await s.banned(t1, t2.ip4)).toBe(false);
  }, 240_000);

  it("a host forgotten with hosts delete --force while its agent runs is not silent: the controller says it reports unregistered", async () => {
    expect(await s.fleet.cli(["hosts", "delete", "t3", "--force", ...s.operator])).toContain("forgot host t3");
    await waitFor("the controller's line about t3", () => s.fleet.controller?.log().split("\n").find((l) => l.includes('"host":"t3"') && l.includes("a host that is not registered reports")), 30_000, 200);
  }, 60_000);
});
