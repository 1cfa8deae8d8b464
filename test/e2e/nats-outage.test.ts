import { appendFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { attacker } from "../harness/netns.js";
import { JAIL_LOG_DIR, createFleet, type Fleet, type FleetHost } from "../harness/fleet.js";
import { waitFor } from "../harness/sh.js";
import { syslogStamp } from "../harness/log-stamp.js";

// Fail static: while NATS is away, rules stay, jails keep banning locally and signals queue; when it
// is back, nothing is lost and the fleet converges. And on a three-server cluster, losing one
// server during a brute force loses no signal and no decision.
const policy = (extraPort: number) => `apiVersion: fleetwall.io/v1alpha1
kind: FirewallPolicy
metadata: {name: base}
spec:
  hostSelector: {}
  ingress:
    - {name: ssh, action: Allow, protocol: tcp, ports: [22]}
    - {name: extra, action: Allow, protocol: tcp, ports: [${extraPort}]}
  jails:
    - name: sshd
      filter: sshd
      source: {file: ${JAIL_LOG_DIR}/auth.log}
      maxRetry: 2
      share: Fleet
`;

let pid = 500;
const attack = (fleet: Fleet, host: FleetHost, addr: string) =>
  appendFileSync(
    join(fleet.hostLogDir(host), "auth.log"),
    [0, 1].map((i) => `${syslogStamp()} ${host.id} sshd[${pid++}]: Failed password for invalid user x from ${addr} port ${40000 + i} ssh2\n`).join(""),
  );
/** Dropped on the host: by a fleet decision (ban4) or by the host's own jail (local4). */
const banned = async (fleet: Fleet, h: FleetHost, addr: string) => {
  const has = (set: string) => fleet.nft(h, ["get", "element", "inet", "fleetwall_bans", set, `{ ${addr} }`]).then(() => true, () => false);
  return (await has("ban4")) || (await has("local4"));
};
const bannedEverywhere = (fleet: Fleet, addr: string, timeoutMs = 30_000) =>
  waitFor(`${addr} banned on every host`, async () => (await Promise.all(fleet.hosts.map((h) => banned(fleet, h, addr)))).every(Boolean), timeoutMs, 100);

async function startFleet(fleet: Fleet, extra: string[] = []): Promise<void> {
  for (const h of fleet.hosts) {
    mkdirSync(fleet.hostLogDir(h), { recursive: true });
    appendFileSync(join(fleet.hostLogDir(h), "auth.log"), "");
  }
  await fleet.listen(["tcp:22", "tcp:8081", "tcp:8082"]);
  fleet.writePolicy("base.yaml", policy(8081));
  await fleet.startController(extra);
  for (const h of fleet.hosts) fleet.startAgent(h);
  await fleet.waitInSync(60_000);
  await waitFor("jails started", () => fleet.hosts.every((h) => h.agent?.log().includes('"jail started"')), 30_000);
}

describe("NATS down for 30 s during an attack", () => {
  let fleet: Fleet;

  beforeAll(async () => {
    fleet = await createFleet(
      [
        { id: "o1", labels: "role=any" },
        { id: "o2", labels: "role=any" },
      ],
      { attackers: 3 },
    );
    await startFleet(fleet);
  });

  afterAll(async () => {
    await fleet?.destroy();
  });

  it("rules stay, the jail bans locally, and after NATS returns nothing is lost and the fleet converges", async () => {
    const [o1, o2] = fleet.hosts as [FleetHost, FleetHost];
    const targets = fleet.hosts.flatMap((h) => [`tcp:${h.ip4}:8081`, `tcp:${h.ip4}:8082`]);
    const before = await fleet.probe(targets);
    await fleet.nats.stop();
    const down = Date.now();

    // an attack on o1 while the bus is away: o1 bans at once, alone
    attack(fleet, o1, attacker(1));
    await waitFor("the local ban on o1", () => banned(fleet, o1, attacker(1)), 30_000, 100);
    expect(await banned(fleet, o2, attacker(1))).toBe(false);
    // a policy change made meanwhile (8082 opens instead of 8081) waits for the bus
    fleet.writePolicy("base.yaml", policy(8082));
    // a second attacker, later in the outage
    await new Promise((r) => setTimeout(r, 10_000));
    attack(fleet, o2, attacker(2));
    await waitFor("the local ban on o2", () => banned(fleet, o2, attacker(2)), 30_000, 100);
    // the rules in force did not move
    expect(await fleet.probe(targets)).toEqual(before);
    const wait = 30_000 - (Date.now() - down);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    expect(await fleet.probe(targets)).toEqual(before);

    await fleet.nats.restart();
    const up = performance.now();
    // queued signals arrive: both attackers banned everywhere; the policy change reaches both hosts
    await bannedEverywhere(fleet, attacker(1));
    await bannedEverywhere(fleet, attacker(2));
    await waitFor("the new policy in force", async () => {
      const open = await fleet.probe(targets);
      return fleet.hosts.every((h) => open[`tcp:${h.ip4}:8082`] && !open[`tcp:${h.ip4}:8081`]);
    }, 30_000, 200);
    await fleet.waitInSync(30_000);
    console.log(`fleet converged ${Math.round(performance.now() - up)} ms after NATS returned from a ${Math.round((Date.now() - down) / 1000)} s outage`);
  });
});

describe("a three-server NATS cluster losing a server during a brute force", () => {
  let fleet: Fleet;

  beforeAll(async () => {
    fleet = await createFleet(
      [
        { id: "c1", labels: "role=any" },
        { id: "c2", labels: "role=any" },
        { id: "c3", labels: "role=any" },
      ],
      { attackers: 6, nats: { cluster: 3 } },
    );
    await startFleet(fleet, ["--replicas", "3"]);
  });

  afterAll(async () => {
    await fleet?.destroy();
  });

  it("loses no signal and no decision; agents keep their rules and reconnect to the survivors", async () => {
    const [c1, c2, c3] = fleet.hosts as [FleetHost, FleetHost, FleetHost];
    const targets = fleet.hosts.map((h) => `tcp:${h.ip4}:8081`);
    attack(fleet, c1, attacker(1));
    await bannedEverywhere(fleet, attacker(1));

    // the brute force goes on from several hosts while a server dies
    attack(fleet, c2, attacker(2));
    await fleet.natsServers[0]?.proc.kill();
    attack(fleet, c3, attacker(3));
    attack(fleet, c1, attacker(4));
    await new Promise((r) => setTimeout(r, 1000));
    attack(fleet, c2, attacker(5));

    for (const n of [2, 3, 4, 5]) await bannedEverywhere(fleet, attacker(n), 30_000);
    // the rules held throughout, and every host is in sync again through the survivors
    expect(Object.values(await fleet.probe(targets))).toEqual([true, true, true]);
    await fleet.waitInSync(30_000);
    // the CLI, given only the survivors, lists every decision (a request may time out while the
    // cluster still moves consumers: an operator would run it again, so does the test)
    let list: { cidr: string }[] = [];
    await waitFor("bans list from the survivors", async () => {
      list = JSON.parse(await fleet.cli(["bans", "list", "--nats", fleet.natsServers.slice(1).map((s) => s.url).join(","), "--json"])) as { cidr: string }[];
      return true;
    }, 30_000, 500);
    for (const n of [1, 2, 3, 4, 5]) expect(list.map((b) => b.cidr)).toContain(attacker(n));
  });
});
