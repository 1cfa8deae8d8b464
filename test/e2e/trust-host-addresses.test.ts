import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { HOSTS_BUCKET, SCHEMA_VERSION } from "@fleetwall/api";
import { attacker } from "../harness/netns.js";
import { securedFleet, type SecuredFleet } from "../harness/secured-fleet.js";
import type { FleetHost } from "../harness/fleet.js";
import { waitFor } from "../harness/sh.js";
import { syslogStamp } from "../harness/log-stamp.js";

// #18 item 2: a host may register only its own addresses. The controller knows where fleet hosts'
// addresses are (--host-networks); a compromised host's nkey that registers the attacker's address
// beside its own shields nothing: a real detection of the attacker on another host is banned
// fleet-wide and its packets dropped, and the registration's honest addresses stay protected.
describe("a host registers only its own addresses (#18 item 2)", () => {
  let s: SecuredFleet;
  let t1: FleetHost;
  let t2: FleetHost;
  let t3: FleetHost;
  let line = 0;
  const rogue = attacker(1);

  const inSet = (h: FleetHost, set: string, addr: string) => s.fleet.nft(h, ["get", "element", "inet", "fleetwall_bans", set, `{ ${addr} }`]).then(() => true, () => false);
  const controllerMetric = async (name: string) => {
    const { body } = await s.fleet.httpGet(`http://${s.fleet.controllerHttp}/metrics`);
    return Number(body.split("\n").find((l) => l.startsWith(`${name} `))?.split(" ").pop() ?? Number.NaN);
  };
  const fromAttacker = async (to: FleetHost) => (await s.fleet.probeDetail([`tcp:${to.ip4}:2222@${rogue}`], { timeoutMs: 1500 }))[`tcp:${to.ip4}:2222@${rogue}`];
  /** Two sshd failures in `on`'s log naming `addr` as the source (maxRetry 2). */
  const failures = (on: FleetHost, addr: string) => {
    const lines = [0, 1].map(() => `${syslogStamp()} ${on.id} sshd[${6000 + ++line}]: Failed password for root from ${addr} port ${43000 + line} ssh2\n`).join("");
    appendFileSync(join(s.fleet.hostLogDir(on), "auth.log"), lines);
  };

  beforeAll(async () => {
    // the fleet's own networks (the test net's slot), so the attacker range is outside them
    s = await securedFleet(["t1", "t2", "t3"], { attackers: 2, controller: (fleet) => ["--host-networks", `198.18.${fleet.net.slot}.0/24,2001:db8:${fleet.net.slot.toString(16)}::/64`] });
    [t1, t2, t3] = s.fleet.hosts as [FleetHost, FleetHost, FleetHost];
    await s.fleet.listen(["tcp:2222"], [t2, t3]);
  }, 120_000);

  afterAll(async () => {
    await s?.destroy();
  });

  it("t1's nkey registers the attacker's address beside its own: refused, logged, counted and shown; only the honest ones are protected", async () => {
    expect(s.fleet.controller?.log()).toContain("registered host addresses are protected only inside the host networks");
    expect(await fromAttacker(t3)).toBe("open");
    const hosts = await new Kvm(await s.as("agent-t1")).open(HOSTS_BUCKET, { bindOnly: true });
    await hosts.put("t1", JSON.stringify({ schemaVersion: SCHEMA_VERSION, hostId: "t1", labels: { role: "any" }, addresses: [t1.ip4, t1.ip6, rogue], agentVersion: "x", nftVersion: "x", startedAt: new Date().toISOString() }));
    await waitFor("the claim refused", () => s.fleet.controller?.log().includes(`address ${rogue}: outside the host networks (--host-networks): not protected`), 30_000);
    await waitFor("the refused-address gauge", async () => (await controllerMetric("fleetwall_controller_host_addresses_refused")) === 1, 30_000, 200);
    const listed = await s.fleet.cli(["hosts", "list", ...s.operator]);
    expect(listed).toMatch(new RegExp(`^t1\\s+\\S+\\s+${t1.ip4.replace(/\./g, "\\.")},${t1.ip6}\\s+${rogue.replace(/\./g, "\\.")} \\(outside the host networks`, "m"));
    expect(listed).toMatch(new RegExp(`^t2\\s+\\S+\\s+${t2.ip4.replace(/\./g, "\\.")},\\S+\\s+-$`, "m"));
    expect(await s.fleet.cli(["status", ...s.operator])).toContain(`addresses not protected: ${rogue}`);
    // the honest addresses are in every host's allowlist; the attacker's is in none
    for (const h of [t2, t3]) {
      await waitFor(`t1 protected on ${h.id}`, () => inSet(h, "allow4", t1.ip4), 30_000, 100);
      expect(await inSet(h, "allow4", rogue), h.id).toBe(false);
    }
  }, 180_000);

  it("a real detection of the attacker on t2 is banned fleet-wide within a second, and its packets to t3 are dropped", async () => {
    expect(await s.detect(t2, t3, rogue)).toBeLessThan(1000);
    expect(await s.banned(t1, rogue)).toBe(true);
    expect(await fromAttacker(t3)).toBe("timeout");
    // an operator may ban it too: it is not "a fleet host"
    expect(await s.fleet.cli(["bans", "add", rogue, "--duration", "1h", ...s.operator])).toContain(`banned ${rogue}`);
  }, 180_000);

  it("t1's honest address stays protected: a crafted log line on t2 bans nothing, an operator's ban is refused", async () => {
    failures(t2, t1.ip4);
    await waitFor("t2's jail skipped t1", () => t2.agent?.log().includes("allowlisted address not banned"), 30_000, 100);
    expect(await inSet(t2, "local4", t1.ip4)).toBe(false);
    await expect(s.fleet.cli(["bans", "add", t1.ip4, ...s.operator])).rejects.toThrow(/a fleet host/);
    for (const h of [t2, t3]) expect(await s.banned(h, t1.ip4), h.id).toBe(false);
  }, 180_000);
});
