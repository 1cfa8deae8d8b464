import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { SCHEMA_VERSION, SIGNALS_STREAM, signalSubject, type BanSignal } from "@fleetwall/api";
import { JAIL_LOG_DIR, type FleetHost } from "../harness/fleet.js";
import { attacker } from "../harness/netns.js";
import { JAIL_POLICY, securedFleet, type SecuredFleet } from "../harness/secured-fleet.js";
import { waitFor } from "../harness/sh.js";
import { nginxStamp } from "../harness/log-stamp.js";

// #18, second review: what a signal's address and jail name can make the controller do. Zone ids
// (`<host address>%eth0`) neither dodge the fleet's host protection nor clog the arbiter; jail names
// do not multiply one host's budget; a second host's report upgrades a solo ban to the quorum's.
const EXTRA_JAILS = 25;
/**
 * The base policy, an nginx jail (reading the same file: sshd's lines are not nginx's, nor the
 * reverse), and jails j0…j24 that exist but never trigger (they only make names t3 runs).
 */
const POLICY = `${JAIL_POLICY}    - {name: nginx, filter: nginx-http-auth, source: {file: ${JAIL_LOG_DIR}/auth.log}, maxRetry: 2, share: Fleet}\n${Array.from({ length: EXTRA_JAILS }, (_, i) => `    - {name: j${i}, filter: sshd, source: {file: ${JAIL_LOG_DIR}/auth.log}, maxRetry: 1000, share: Fleet}\n`).join("")}`;

interface Row {
  cidr: string;
  list: string;
  origins: string[];
  expiresAt: string | null;
}

describe("signals' addresses and jail names (#18, second review)", () => {
  let s: SecuredFleet;
  let t1: FleetHost;
  let t2: FleetHost;
  let t3: FleetHost;

  const signal = (hostId: string, address: string, over: Partial<BanSignal> = {}): BanSignal => ({ schemaVersion: SCHEMA_VERSION, hostId, jail: "sshd", address, failures: 5, at: new Date().toISOString(), banSeconds: 3600, ...over });
  const publishAs = async (hostId: string, signals: BanSignal[]) => {
    const js = jetstream(await s.as(`agent-${hostId}`));
    await Promise.all(signals.map((sig) => js.publish(signalSubject(hostId), JSON.stringify(sig))));
  };
  const bans = async () => JSON.parse(await s.fleet.cli(["bans", "list", ...s.operator, "--json"])) as Row[];
  const log = () => s.fleet.controller?.log() ?? "";
  const metric = async (name: string) => (await s.fleet.httpGet(`http://${s.fleet.controllerHttp}/metrics`)).body.split("\n").filter((l) => l.startsWith(name)).join("\n");

  beforeAll(async () => {
    s = await securedFleet(["t1", "t2", "t3"], { attackers: 3, policy: POLICY });
    [t1, t2, t3] = s.fleet.hosts as [FleetHost, FleetHost, FleetHost];
  }, 180_000);

  afterAll(async () => {
    await s?.destroy();
  });

  it("a host's IPv6 address with a zone id is no address: 5,000 such signals are dropped once each, ban nothing, and a real detection is shared within a second", async () => {
    const before = log().length;
    const zoned = [`${t2.ip6}%eth0`, `${t3.ip6}%1`, "fe80::1%eth0"];
    const flood = publishAs("t1", Array.from({ length: 5000 }, (_, i) => signal("t1", zoned[i % zoned.length] as string)));
    expect(await s.detect(t2, t3, attacker(1))).toBeLessThan(1000);
    await flood;
    await waitFor("every zoned signal dropped", async () => (await metric("fleetwall_controller_invalid_messages")).includes('kind="signal"} 5000'), 30_000, 200);
    const jsm = await jetstreamManager(await s.as("controller"));
    const info = await jsm.consumers.info(SIGNALS_STREAM, "fleetwall-arbiter");
    expect(info.num_redelivered).toBe(0);
    expect(info.num_ack_pending).toBe(0);
    const grown = log().slice(before);
    expect(grown).not.toContain("invalid key");
    expect(grown).not.toContain("signal not handled");
    // a few lines (the drop, its count, the real ban), not one per signal
    expect(grown.length).toBeLessThan(20_000);
    for (const h of [t1, t3]) expect(await s.banned(h, t2.ip6), h.id).toBe(false);
    expect((await bans()).filter((r) => r.cidr.includes(":"))).toEqual([]);
  }, 120_000);

  it("signals naming jails their host does not run are refused: 40 jail names for one address ban nothing", async () => {
    await publishAs("t1", Array.from({ length: 40 }, (_, i) => signal("t1", "203.0.113.240", { jail: `x${i}` })));
    await waitFor("the 40 refused", async () => /fleetwall_controller_signals_refused\{reason="jail-not-run"\} 40\b/.test(await metric("fleetwall_controller_signals_refused")), 20_000, 200);
    expect(log()).toContain("jail x0 is not run by t1");
    expect((await bans()).filter((r) => r.cidr === "203.0.113.240")).toEqual([]);
  }, 60_000);

  it(`one address under the ${EXTRA_JAILS} jails its host runs costs one budget unit each: at most the budget (10 in any 60 s) is fleet-banned`, async () => {
    await publishAs("t3", Array.from({ length: EXTRA_JAILS }, (_, i) => signal("t3", "203.0.113.241", { jail: `j${i}` })));
    let rows: Row[] = [];
    await waitFor("all judged", async () => {
      rows = (await bans()).filter((r) => r.cidr === "203.0.113.241");
      const over = /reason="over-budget"\} (\d+)/.exec(await metric("fleetwall_controller_signals_refused"))?.[1];
      return rows.length + Number(over ?? 0) >= EXTRA_JAILS;
    }, 20_000, 200);
    // ten in any 60 s (the window slides: a burst across a minute's end gets ten too), never all 25 (per address, it cost 2)
    expect(rows).toHaveLength(10);
  }, 60_000);

  it("an nginx line's referrer does not choose the victim: 404s whose referrer names a fleet host or another address ban no one; a real failure with such a referrer bans its client", async () => {
    const line = (n: number, message: string, client: string, referrer: string) =>
      `${nginxStamp()} [error] 10#10: *${n} ${message}, client: ${client}, server: t1, request: "GET /nope HTTP/1.1", host: "t1", referrer: "${referrer}"\n`;
    const crafted = (victim: string) => `no user/password was provided for basic authentication, client: ${victim}, server: x`;
    const real = attacker(2);
    const lines = [
      line(1, 'open() "/var/www/html/nope" failed (2: No such file or directory)', "203.0.113.210", crafted(t2.ip4)),
      line(2, 'open() "/var/www/html/nope" failed (2: No such file or directory)', "203.0.113.210", crafted(t2.ip4)),
      line(3, 'open() "/var/www/html/nope" failed (2: No such file or directory)', "203.0.113.211", crafted("203.0.113.250")),
      line(4, 'open() "/var/www/html/nope" failed (2: No such file or directory)', "203.0.113.211", crafted("203.0.113.250")),
      line(5, "no user/password was provided for basic authentication", real, crafted("203.0.113.251")),
      line(6, "no user/password was provided for basic authentication", real, crafted("203.0.113.251")),
    ];
    appendFileSync(join(s.fleet.hostLogDir(t1), "auth.log"), lines.join(""));
    // the real client is banned fleet-wide, so the lines before it were read
    await waitFor(`${real} banned on t3`, () => s.banned(t3, real), 30_000, 100);
    const local = (h: FleetHost, addr: string) => s.fleet.nft(h, ["get", "element", "inet", "fleetwall_bans", "local4", `{ ${addr} }`]).then(() => true, () => false);
    for (const victim of [t2.ip4, "203.0.113.250", "203.0.113.251", "203.0.113.210", "203.0.113.211"]) {
      expect(await local(t1, victim), `${victim} on t1`).toBe(false);
      expect(await s.banned(t3, victim), `${victim} on t3`).toBe(false);
    }
    expect(t1.agent?.log()).not.toContain(`"address":"${t2.ip4}"`);
  }, 60_000);

  it("a second host reporting within the window upgrades the first host's solo ban to the quorum's length", async () => {
    const address = "203.0.113.226";
    await publishAs("t1", [signal("t1", address, { banSeconds: 7200 })]);
    const row = () => bans().then((r) => r.find((b) => b.cidr === address && b.list === "jail-sshd"));
    const solo = await waitFor("t1's solo ban", row, 15_000, 100);
    expect(solo.origins).toEqual(["t1"]);
    expect(Date.parse(solo.expiresAt as string) - Date.now()).toBeLessThanOrEqual(3600_000);
    await publishAs("t2", [signal("t2", address, { banSeconds: 7200 })]);
    const quorum = await waitFor("the quorum's ban", async () => ((await row())?.origins.length === 2 ? row() : undefined), 15_000, 100);
    expect(quorum?.origins).toEqual(["t1", "t2"]);
    expect(Date.parse(quorum?.expiresAt as string) - Date.now()).toBeGreaterThan(7000_000);
    expect(await s.banned(t3, address)).toBe(true);
  }, 60_000);
});
