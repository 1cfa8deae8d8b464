import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, REPO, createFleet, type Fleet, type FleetHost } from "../harness/fleet.js";
import { waitFor } from "../harness/sh.js";

const example = readFileSync(join(REPO, "examples/web-server.yaml"), "utf8");
const OTHER = `table inet other {
  chain c {
    type filter hook input priority 10; policy accept;
    tcp dport 5555 accept
  }
}
`;

describe("walking skeleton: a policy file becomes nftables rules on a fleet", () => {
  let fleet: Fleet;
  let web1: FleetHost;
  let web2: FleetHost;
  let db1: FleetHost;
  let otherBefore: string;

  const status = () => fleet.status();
  const tcp = (h: FleetHost, port: number, v6 = false) => `tcp:${v6 ? `[${h.ip6}]` : h.ip4}:${port}`;

  beforeAll(async () => {
    fleet = await createFleet([
      { id: "web-1", labels: "role=web" },
      { id: "web-2", labels: "role=web,zone=b" },
      { id: "db-1", labels: "role=db" },
    ]);
    [web1, web2, db1] = fleet.hosts as [FleetHost, FleetHost, FleetHost];
    await fleet.nft(web1, ["-f", "-"], OTHER);
    otherBefore = await fleet.nft(web1, ["list", "table", "inet", "other"]);
    await fleet.listen(["tcp:22", "tcp:80", "tcp:443", "tcp:3306", "tcp:9100"]);
    fleet.writePolicy("web.yaml", example);
    await fleet.startController();
    for (const h of fleet.hosts) fleet.startAgent(h);
    await fleet.waitInSync();
  });

  afterAll(async () => {
    await fleet?.destroy();
  });

  it("opens 22, 80 and 443 on web hosts and drops everything else, over IPv4 and IPv6", async () => {
    for (const h of [web1, web2]) {
      const r = await fleet.probe([22, 80, 443, 3306, 9100].flatMap((p) => [tcp(h, p), tcp(h, p, true)]));
      for (const v6 of [false, true]) {
        expect(r[tcp(h, 22, v6)], `${h.id} 22`).toBe(true);
        expect(r[tcp(h, 80, v6)], `${h.id} 80`).toBe(true);
        expect(r[tcp(h, 443, v6)], `${h.id} 443`).toBe(true);
        expect(r[tcp(h, 3306, v6)], `${h.id} 3306`).toBe(false);
        // the client is not in 198.18.0.0/24 nor 2001:db8::/64
        expect(r[tcp(h, 9100, v6)], `${h.id} 9100`).toBe(false);
      }
    }
  });

  it("leaves a host without the label untouched", async () => {
    const r = await fleet.probe([tcp(db1, 22), tcp(db1, 3306), tcp(db1, 9100, true)]);
    expect(Object.values(r)).toEqual([true, true, true]);
    await expect(fleet.nft(db1, ["list", "table", "inet", "fleetwall"])).rejects.toThrow(/No such file/);
  });

  it("reports desired and applied revisions per host and a summary per policy", async () => {
    const s = await status();
    const byId = Object.fromEntries(s.hosts.map((h) => [h.id, h]));
    expect(byId["web-1"]).toMatchObject({ labels: { role: "web" }, desiredRevision: 1, appliedRevision: 1, inSync: true, error: null });
    expect(byId["web-2"]).toMatchObject({ desiredRevision: 1, appliedRevision: 1, inSync: true });
    expect(byId["web-1"]?.lastSeen).toMatch(/^\d{4}-/);
    expect(s.policies).toEqual([{ name: "web-servers", selectedHosts: 2, appliedHosts: 2, failedHosts: 0, error: null, warnings: [] }]);
    const text = await fleet.cli(["status", "--nats", fleet.nats.url]);
    expect(text).toMatch(/^HOST\s+LABELS\s+DESIRED\s+APPLIED\s+IN SYNC\s+LAST SEEN/m);
    expect(text).toMatch(/^web-servers\s+2\s+2\s+0/m);
  });

  it("applies an edit of the file on every selected host without a restart", async () => {
    const started = Date.now();
    fleet.writePolicy("web.yaml", example.replace("ports: [80, 443]", "ports: [443]"));
    await waitFor("port 80 closed on both web hosts", async () => {
      const r = await fleet.probe([tcp(web1, 80), tcp(web2, 80)], 300);
      return !r[tcp(web1, 80)] && !r[tcp(web2, 80)];
    }, 15_000, 20);
    console.log(`policy edit enforced on every selected host after ${Date.now() - started} ms`);
    // open ports answer at once; a loaded machine gets a generous timeout for them
    const r = await fleet.probe([tcp(web1, 443), tcp(web2, 22), tcp(db1, 80)], 3000);
    expect(Object.values(r)).toEqual([true, true, true]);
    await waitFor("status shows revision 2 applied", async () => {
      const s = await status();
      return s.hosts.filter((h) => h.id.startsWith("web")).every((h) => h.appliedRevision === 2 && h.desiredRevision === 2 && h.inSync);
    }, 30_000, 100);
  });

  it("serves metrics, health and readiness on the controller and the agents", async () => {
    const base = `http://${fleet.controllerHttp}`;
    expect((await fleet.httpGet(`${base}/healthz`)).status).toBe(200);
    expect((await fleet.httpGet(`${base}/readyz`)).status).toBe(200);
    const metrics = (await fleet.httpGet(`${base}/metrics`)).body;
    expect(metrics).toMatch(/^fleetwall_controller_hosts\{state="in_sync"\} 3$/m);
    expect(metrics).toMatch(/^fleetwall_controller_desired_published_total \d+$/m);
    expect(metrics).toMatch(/^fleetwall_controller_reconcile_seconds_count [1-9]\d*$/m);
    expect(metrics).toMatch(/^fleetwall_controller_revision_lag\{measure="hosts"\} 0$/m);
    const agent = await fleet.httpGet("http://127.0.0.1:9475/metrics", web1);
    expect(agent.status).toBe(200);
    expect(agent.body).toMatch(/^fleetwall_agent_applied_revision 2$/m);
    expect(agent.body).toMatch(/^fleetwall_agent_applies_total 2$/m);
    expect(agent.body).toMatch(/^fleetwall_agent_apply_seconds_count 2$/m);
    expect((await fleet.httpGet("http://127.0.0.1:9475/readyz", web1)).status).toBe(200);
  });

  it("diff shows what a file would change on a host, before it is applied", async () => {
    const file = join(fleet.dir, "candidate.yaml");
    writeFileSync(file, example);
    const run = spawnSync("node", [CLI, "diff", "--nats", fleet.nats.url, "--host", "web-1", "-f", file], { encoding: "utf8" });
    expect(run.status).toBe(1);
    expect(run.stdout).toContain("-\t\ttcp dport 443 counter accept comment \"web-servers/web\"");
    expect(run.stdout).toContain("+\t\ttcp dport { 80, 443 } counter accept comment \"web-servers/web\"");
    writeFileSync(file, example.replace("ports: [80, 443]", "ports: [443]"));
    const same = spawnSync("node", [CLI, "diff", "--nats", fleet.nats.url, "--host", "web-1", "-f", file], { encoding: "utf8" });
    expect([same.status, same.stdout]).toEqual([0, "no change\n"]);
  });

  it("repairs a foreign change to its table within the drift interval", async () => {
    const repairs = async () => (await status()).hosts.find((h) => h.id === "web-1")?.driftRepairs ?? -1;
    const before = await repairs();
    await fleet.nft(web1, ["flush", "chain", "inet", "fleetwall", "in_web-servers"]);
    await waitFor("the repair counted in the status", async () => (await repairs()) > before, 30_000, 100);
    expect(await fleet.nft(web1, ["list", "chain", "inet", "fleetwall", "in_web-servers"])).toContain('comment "web-servers/web"');
    expect((await fleet.probe([tcp(web1, 443)]))[tcp(web1, 443)]).toBe(true);
    expect(fleet.hosts[0]?.agent?.log()).toContain("drift detected; repairing");
  });

  it("repairs a deleted rule and a deleted table as well", async () => {
    const repairs = async () => (await status()).hosts.find((h) => h.id === "web-1")?.driftRepairs ?? -1;
    const listing = await fleet.nft(web1, ["-a", "list", "chain", "inet", "fleetwall", "in_web-servers"]);
    const handle = /# handle (\d+)/.exec(listing.split("\n").find((l) => l.includes('comment "web-servers/web"')) ?? "")?.[1];
    expect(handle).toBeDefined();
    let before = await repairs();
    await fleet.nft(web1, ["delete", "rule", "inet", "fleetwall", "in_web-servers", "handle", handle as string]);
    await waitFor("the deleted rule repaired", async () => (await repairs()) > before, 30_000, 100);
    expect(await fleet.nft(web1, ["list", "chain", "inet", "fleetwall", "in_web-servers"])).toContain('comment "web-servers/web"');
    before = await repairs();
    await fleet.nft(web1, ["delete", "table", "inet", "fleetwall"]);
    await waitFor("the deleted table repaired", async () => (await repairs()) > before, 30_000, 100);
    expect((await fleet.probe([tcp(web1, 443), tcp(web1, 3306)]))).toEqual({ [tcp(web1, 443)]: true, [tcp(web1, 3306)]: false });
  });

  it("a controller restart changes nothing on the hosts: same revision and hash, no re-apply", async () => {
    const applies = () => fleet.hosts.map((h) => (h.agent?.log().match(/"ruleset applied"/g) ?? []).length);
    const view = async () => (await status()).hosts.map((h) => [h.id, h.desiredRevision, h.appliedRevision, h.inSync]);
    const before = await view();
    const appliedBefore = applies();
    await fleet.controller?.stop();
    await fleet.startController();
    await waitFor("the restarted controller answering", () => status().then(() => true, () => false), 30_000, 200);
    // every agent's heartbeat has reached the new controller (it knows only what reports told it),
    // and then one more, so a re-apply the restart caused would have been reported
    const seen = async () => new Map((await status()).hosts.map((h) => [h.id, h.lastSeen]));
    const first = await waitFor("a report of every host to the new controller", async () => {
      const s = await seen();
      return s.size === fleet.hosts.length && [...s.values()].every(Boolean) ? s : undefined;
    }, 30_000, 200);
    await waitFor("a second report of every host", async () => {
      const s = await seen();
      return [...first].every(([id, at]) => (s.get(id) ?? "") > (at ?? ""));
    }, 30_000, 200);
    expect(await view()).toEqual(before);
    expect(applies()).toEqual(appliedBefore);
  });

  it("restores the last applied ruleset from its state directory with --boot, without NATS", async () => {
    await web2.agent?.stop();
    await fleet.nft(web2, ["delete", "table", "inet", "fleetwall"]);
    expect((await fleet.probe([tcp(web2, 3306)]))[tcp(web2, 3306)]).toBe(true);
    await fleet.net.exec(web2.ns, ["node", CLI, "agent", "--boot", "--nats", "nats://127.0.0.1:1", "--host-id", web2.id, "--state-dir", web2.stateDir, "--controller-key", `${fleet.signingKey}.pub`]);
    const r = await fleet.probe([tcp(web2, 443), tcp(web2, 3306)]);
    expect(r).toEqual({ [tcp(web2, 443)]: true, [tcp(web2, 3306)]: false });
  });

  it("never touches another table", async () => {
    const strip = (s: string) => s.replace(/counter packets \d+ bytes \d+/g, "counter");
    expect(strip(await fleet.nft(web1, ["list", "table", "inet", "other"]))).toBe(strip(otherBefore));
    const tables = await fleet.nft(web1, ["list", "tables"]);
    expect(tables.trim().split("\n").sort()).toEqual(["table inet fleetwall", "table inet fleetwall_bans", "table inet other"]);
  });

  it("agent uninstall removes exactly what the agent created", async () => {
    await web1.agent?.stop();
    const out = await fleet.net.exec(web1.ns, ["node", CLI, "agent", "uninstall", "--state-dir", web1.stateDir]);
    expect(out).toContain("table inet fleetwall,");
    expect(out).toContain("table inet fleetwall_bans");
    expect((await fleet.nft(web1, ["list", "tables"])).trim()).toBe("table inet other");
    expect(readdirSync(web1.stateDir), out).toEqual([]);
    expect(await fleet.net.exec(web1.ns, ["node", CLI, "agent", "uninstall", "--state-dir", web1.stateDir])).toBe("nothing to remove\n");
  });
});
