// Issue #17, "Listed ≠ enforced": what fleetwall lists of bans and hosts is what the kernels do.
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HostBansRow } from "@fleetwall/api";
import { attacker } from "../harness/netns.js";
import { JAIL_LOG_DIR, REPO, createFleet, type Fleet, type FleetHost } from "../harness/fleet.js";
import { startProc } from "../harness/procs.js";
import { CLI } from "../harness/fleet.js";
import { policyYaml } from "../harness/policy-yaml.js";
import { waitFor } from "../harness/sh.js";
import { syslogStamp } from "../harness/log-stamp.js";

const POLICY = `${readFileSync(join(REPO, "examples/web-server.yaml"), "utf8")}
  jails:
    - name: sshd
      filter: sshd
      source: {file: ${JAIL_LOG_DIR}/auth.log}
      maxRetry: 3
      findTime: 10m
      banTime: 1h
      share: Local
`;
// 203.0.113.0/27 holds attacker(10) = .20; 203.0.113.24/29 does not
const WIDE = "203.0.113.0/27";
const NARROW = "203.0.113.24/29";
const INSIDE_WIDE = attacker(10);

const failures = (addr: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${syslogStamp()} web sshd[${2000 + i}]: Failed password for invalid user admin from ${addr} port ${41000 + i} ssh2\n`).join("");

describe("per-host ban truth on a 3-host fleet", () => {
  let fleet: Fleet;
  let hosts: FleetHost[];
  const nats = () => ["--nats", fleet.nats.url];
  const has = (h: FleetHost, set: string, el: string) =>
    fleet.nft(h, ["get", "element", "inet", "fleetwall_bans", set, `{ ${el} }`]).then(
      () => true,
      () => false,
    );
  const hostBans = async (id: string) => (JSON.parse(await fleet.cli(["bans", "list", "--host", id, "--json", ...nats()])) as { host: HostBansRow }).host;
  const bansInSync = (ids: string[]) =>
    waitFor(`bans in sync on ${ids.join(", ")}`, async () => {
      const s = await fleet.status();
      return ids.every((id) => s.hosts.find((h) => h.id === id)?.bans === "InSync");
    }, 30_000, 200);
  const killAgent = async (h: FleetHost) => {
    process.kill(h.agent?.child.pid as number, "SIGKILL");
    await h.agent?.exited;
  };

  beforeAll(async () => {
    fleet = await createFleet(
      [
        { id: "a", labels: "role=web" },
        { id: "b", labels: "role=web" },
        { id: "c", labels: "role=web" },
      ],
      { attackers: 12 },
    );
    hosts = fleet.hosts;
    await fleet.listen(["tcp:80"]);
    for (const h of hosts) {
      mkdirSync(fleet.hostLogDir(h), { recursive: true });
      appendFileSync(join(fleet.hostLogDir(h), "auth.log"), "");
    }
    fleet.writePolicy("web.yaml", POLICY);
    await fleet.startController();
    for (const h of hosts) fleet.startAgent(h);
    await fleet.waitInSync(60_000);
    await waitFor("jails started", () => hosts.every((h) => h.agent?.log().includes('"jail started"')), 60_000);
  }, 180_000);

  afterAll(async () => {
    await fleet?.destroy();
  });

  it("an enclosing network banned after a nested one is enforced, also once the nested one is lifted", async () => {
    await fleet.cli(["bans", "add", NARROW, ...nats()]);
    await fleet.cli(["bans", "add", WIDE, ...nats()]);
    await waitFor("the /27 in every kernel", async () => (await Promise.all(hosts.map((h) => has(h, "net4", WIDE)))).every(Boolean), 30_000, 100);
    expect(Object.values(await fleet.probe(hosts.map((h) => `tcp:${h.ip4}:80@${INSIDE_WIDE}`)))).toEqual([false, false, false]);
    await bansInSync(["a", "b", "c"]);
    await fleet.cli(["bans", "delete", NARROW, ...nats()]);
    await bansInSync(["a", "b", "c"]);
    for (const h of hosts) expect(await has(h, "net4", WIDE), h.id).toBe(true);
    expect(Object.values(await fleet.probe(hosts.map((h) => `tcp:${h.ip4}:80@${INSIDE_WIDE}`)))).toEqual([false, false, false]);
    // b holds one decision less once it has the delete: its report and the bucket agree on that
    const b = await waitFor("b reporting the /27 alone", async () => {
      const h = await hostBans("b");
      return h.state === "InSync" && h.expectedCount === 1 ? h : undefined;
    }, 30_000, 200);
    expect(b).toMatchObject({ state: "InSync", refusedTotal: 0, count: 1 });
    expect(b.digest).toBe(b.expectedDigest);
    for (const h of hosts) expect(h.agent?.log(), h.id).not.toContain("ban element refused");
    await fleet.cli(["bans", "delete", WIDE, ...nats()]);
    await waitFor("the /27 lifted", async () => !(await Promise.all(hosts.map((h) => has(h, "net4", WIDE)))).some(Boolean), 30_000, 100);
  }, 180_000);

  it("an agent killed with SIGKILL while a ban is deleted converges to the bucket when it starts again", async () => {
    const x = attacker(1);
    const b = hosts[1] as FleetHost;
    await fleet.cli(["bans", "add", x, ...nats()]);
    await waitFor("the ban on b", () => has(b, "ban4", x), 30_000, 100);
    await killAgent(b);
    await fleet.cli(["bans", "delete", x, ...nats()]);
    // the agent is down: its kernel still drops x (fail static)
    expect(await has(b, "ban4", x)).toBe(true);
    fleet.startAgent(b);
    await waitFor("x lifted on b after the restart", async () => !(await has(b, "ban4", x)), 60_000, 200);
    expect((await fleet.probe([`tcp:${b.ip4}:80@${x}`]))[`tcp:${b.ip4}:80@${x}`]).toBe(true);
    await fleet.waitInSync(60_000);
    await bansInSync(["b"]);
  }, 180_000);

  it("a deleted bans table is rebuilt, and status says the bans are in sync only once it is", async () => {
    const x = attacker(2);
    const c = hosts[2] as FleetHost;
    await fleet.cli(["bans", "add", x, ...nats()]);
    await waitFor("the ban on c", () => has(c, "ban4", x), 30_000, 100);
    const repairs = (await fleet.status()).hosts.find((h) => h.id === "c")?.driftRepairs ?? 0;
    await fleet.nft(c, ["delete", "table", "inet", "fleetwall_bans"]);
    await waitFor("the bans table rebuilt on c", () => has(c, "ban4", x), 30_000, 100);
    expect((await fleet.probe([`tcp:${c.ip4}:80@${x}`]))[`tcp:${c.ip4}:80@${x}`]).toBe(false);
    await waitFor("the repair counted", async () => ((await fleet.status()).hosts.find((h) => h.id === "c")?.driftRepairs ?? 0) > repairs, 30_000, 200);
    await bansInSync(["c"]);
    await fleet.cli(["bans", "delete", x, ...nats()]);
  }, 180_000);

  it("a local jail ban is listed with its host and jail, and bans delete lifts it on that host", async () => {
    const x = attacker(3);
    const a = hosts[0] as FleetHost;
    appendFileSync(join(fleet.hostLogDir(a), "auth.log"), failures(x, 3));
    await waitFor("the local ban on a", () => has(a, "local4", x), 30_000, 100);
    for (const h of hosts.slice(1)) expect(await has(h, "local4", x), h.id).toBe(false);
    type Row = { origin: string; cidr: string; host?: string; jail?: string };
    const listed = async (args: string[]) => JSON.parse(await fleet.cli(["bans", "list", "--json", ...args, ...nats()])) as Row[];
    await waitFor("the local ban reported", async () => (await listed(["--origin", "local"])).some((r) => r.cidr === x), 30_000, 200);
    expect(await listed(["--origin", "local"])).toEqual([expect.objectContaining({ origin: "local", cidr: x, host: "a", jail: "sshd" })]);
    expect((await listed(["--jail", "sshd"])).map((r) => r.cidr)).toContain(x);
    expect((await listed(["--origin", "fleet"])).map((r) => r.cidr)).not.toContain(x);
    const out = await fleet.cli(["bans", "delete", x, ...nats()]);
    expect(out).toContain("local ban on a (jail sshd)");
    expect(await has(a, "local4", x)).toBe(false);
    expect((await fleet.probe([`tcp:${a.ip4}:80@${x}`]))[`tcp:${a.ip4}:80@${x}`]).toBe(true);
    expect(await listed(["--origin", "local"])).toEqual([]);
  }, 180_000);

  it("agent --dry-run prints the ruleset and bans it would apply, and enforces, registers and reports nothing", async () => {
    const ns = fleet.net.client.ns;
    const tablesBefore = await fleet.net.exec(ns, ["nft", "list", "tables"]);
    await fleet.cli(["bans", "add", attacker(4), ...nats()]);
    const reportsBefore = (await fleet.status()).hosts.find((h) => h.id === "a")?.lastSeen;
    const dry = startProc("agent-dry-run", ["ip", "netns", "exec", ns, "node", CLI, "agent", "--dry-run", ...nats(), "--host-id", "a", "--labels", "role=web", "--state-dir", join(fleet.dir, "dry-state"), "--controller-key", `${fleet.signingKey}.pub`, "--heartbeat", "1s"], join(fleet.dir, "logs"));
    try {
      await waitFor("the dry run's ruleset and bans", () => dry.log().includes("table inet fleetwall {") && dry.log().includes(attacker(4)), 30_000, 100);
      expect(dry.log()).toContain("# fleetwall agent --dry-run: ruleset");
      expect(await fleet.net.exec(ns, ["nft", "list", "tables"])).toBe(tablesBefore);
    } finally {
      await dry.stop();
    }
    // the real agent a still reports as itself; the dry run did not register or report
    await waitFor("a reporting", async () => (await fleet.status()).hosts.find((h) => h.id === "a")?.lastSeen !== reportsBefore, 30_000, 200);
    expect((await fleet.status()).hosts.map((h) => h.id)).toEqual(["a", "b", "c"]);
    await fleet.cli(["bans", "delete", attacker(4), ...nats()]);
  }, 180_000);

  it("an agent dead for a few heartbeats is Stale and not counted as applied; hosts delete forgets it", async () => {
    const c = hosts[2] as FleetHost;
    await expect(fleet.cli(["hosts", "delete", "c", ...nats()])).rejects.toThrow(/still reports/);
    // a second revision on every host, so c's saved state is above revision 1
    fleet.writePolicy("extra.yaml", policyYaml("extra", 9999));
    await fleet.waitInSync(60_000);
    const held = (await fleet.status()).hosts.find((h) => h.id === "c")?.appliedRevision ?? 0;
    expect(held).toBeGreaterThan(1);
    await killAgent(c);
    await waitFor("c stale", async () => (await fleet.status()).hosts.find((h) => h.id === "c")?.stale, 30_000, 200);
    const s = await fleet.status();
    expect(s.hosts.find((h) => h.id === "c")).toMatchObject({ stale: true, inSync: false });
    expect(s.policies.find((p) => p.name === "web-servers")).toMatchObject({ selectedHosts: 3, appliedHosts: 2 });
    expect(await fleet.cli(["status", ...nats()])).toMatch(/^c\s.*STALE/m);
    expect(await fleet.cli(["hosts", "delete", "c", ...nats()])).toContain("forgot host c");
    await waitFor("c forgotten", async () => !(await fleet.status()).hosts.some((h) => h.id === "c"), 30_000, 200);
    expect((await fleet.status()).policies.find((p) => p.name === "web-servers")).toMatchObject({ selectedHosts: 2, appliedHosts: 2 });
    // c comes back with its saved state: the controller, told its revision, publishes above it (revision
    // 1 again would be refused as a replay, and c would never be in sync)
    fleet.startAgent(c);
    await waitFor("c back in sync", async () => (await fleet.status()).hosts.find((h) => h.id === "c")?.inSync, 60_000, 200);
    expect((await fleet.status()).hosts.find((h) => h.id === "c")?.appliedRevision).toBeGreaterThan(held);
  }, 180_000);
});
