import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { HOSTS_BUCKET, PROTECTION_BUCKET, PROTECTION_KEY, SCHEMA_VERSION, signalSubject, type BanSignal } from "@fleetwall/api";
import { attacker } from "../harness/netns.js";
import { securedFleet, type SecuredFleet } from "../harness/secured-fleet.js";
import type { FleetHost } from "../harness/fleet.js";
import { waitFor } from "../harness/sh.js";
import { syslogStamp } from "../harness/log-stamp.js";

// #18 item 2 on the host: agents cannot read the hosts bucket, so the controller publishes the
// fleet's protection list (every host's addresses, the control plane), which agents may only read.
// A crafted log line on one host naming another fleet host bans nothing there, and real packets
// from that host still pass; a real attacker is still banned, locally and fleet-wide.
describe("another fleet host is never banned locally (#18 item 2)", () => {
  let s: SecuredFleet;
  let t1: FleetHost;
  let t2: FleetHost;
  let t3: FleetHost;
  let line = 0;

  const inSet = (h: FleetHost, set: string, addr: string) => s.fleet.nft(h, ["get", "element", "inet", "fleetwall_bans", set, `{ ${addr} }`]).then(() => true, () => false);
  const agentMetric = async (h: FleetHost, name: string) => {
    const { body } = await s.fleet.httpGet("http://127.0.0.1:9475/metrics", h);
    return Number(body.split("\n").find((l) => l.startsWith(name))?.split(" ").pop() ?? 0);
  };
  /** Two sshd failures in `on`'s log naming `addr` as the source (maxRetry 2). */
  const failures = (on: FleetHost, addr: string) => {
    const lines = [0, 1].map(() => `${syslogStamp()} ${on.id} sshd[${5000 + ++line}]: Failed password for root from ${addr} port ${42000 + line} ssh2\n`).join("");
    appendFileSync(join(s.fleet.hostLogDir(on), "auth.log"), lines);
  };
  const fromTo = async (from: FleetHost, to: FleetHost) => (await s.fleet.probeDetail([`tcp:${to.ip4}:2222`], { from: from.ns, timeoutMs: 1500 }))[`tcp:${to.ip4}:2222`];

  beforeAll(async () => {
    s = await securedFleet(["t1", "t2", "t3"], { attackers: 2 });
    [t1, t2, t3] = s.fleet.hosts as [FleetHost, FleetHost, FleetHost];
    await s.fleet.listen(["tcp:2222"], [t1]);
  }, 120_000);

  afterAll(async () => {
    await s?.destroy();
  });

  it("every agent holds the fleet's list in its bans table's allowlist: the other hosts and the NATS server", async () => {
    for (const h of [t1, t2, t3]) {
      await waitFor(`the fleet's list on ${h.id}`, async () => (await agentMetric(h, "fleetwall_agent_fleet_protection_revision")) > 0, 60_000, 100);
      for (const other of [t1, t2, t3]) await waitFor(`${other.id} protected on ${h.id}`, () => inSet(h, "allow4", other.ip4), 30_000, 100);
      expect(await inSet(h, "allow4", s.fleet.nats.host), `the NATS server on ${h.id}`).toBe(true);
    }
    expect(s.fleet.controller?.log()).toContain("fleet protection list published");
    // a fresh installation: every stream made with the settings wanted, nothing left to fix
    expect(s.fleet.controller?.log()).not.toContain("stream setting not changed");
    expect(s.fleet.controller?.log()).not.toContain("stream settings updated");
  }, 180_000);

  it("a crafted log line on t1 naming t2 bans nothing on t1: t2's packets still reach t1; the skip is counted", async () => {
    expect(await fromTo(t2, t1)).toBe("open");
    const before = Number(await agentMetric(t1, 'fleetwall_agent_jail_bans_skipped{reason="protected"}'));
    failures(t1, t2.ip4);
    await waitFor("t1's jail skipped t2", async () => (await agentMetric(t1, 'fleetwall_agent_jail_bans_skipped{reason="protected"}')) > before, 30_000, 100);
    expect(await inSet(t1, "local4", t2.ip4)).toBe(false);
    expect(await fromTo(t2, t1)).toBe("open");
    // and the controller was not asked: the jail skipped it before any signal
    expect(s.fleet.controller?.log()).not.toContain(`"address":"${t2.ip4}"`);
  }, 180_000);

  it("the same lines naming t2 in an IPv6 form of its address (NAT64, local NAT64, 6to4, Teredo) ban nothing on t1 either", async () => {
    const before = Number(await agentMetric(t1, 'fleetwall_agent_jail_bans_skipped{reason="protected"}'));
    const [a, b, c, d] = t2.ip4.split(".").map(Number) as [number, number, number, number];
    const hex = (x: number, y: number) => ((x << 8) | y).toString(16);
    const inverted = (x: number, y: number) => (0xffff ^ ((x << 8) | y)).toString(16);
    const forms = [`64:ff9b::${t2.ip4}`, `64:ff9b:1:7:8:9:${hex(a, b)}:${hex(c, d)}`, `2002:${hex(a, b)}:${hex(c, d)}::1`, `2001:0:4136:e378:8000:63bf:${inverted(a, b)}:${inverted(c, d)}`];
    for (const f of forms) failures(t1, f);
    await waitFor("t1's jail skipped each form", async () => (await agentMetric(t1, 'fleetwall_agent_jail_bans_skipped{reason="protected"}')) >= before + forms.length, 30_000, 100);
    for (const f of forms) expect(await inSet(t1, "local6", f), f).toBe(false);
    expect(s.fleet.controller?.log()).not.toContain("64:ff9b::");

    // the same forms sent by t1's nkey as signals: the arbiter refuses each as t2's address
    const refusedAsHost = async () => {
      const { body } = await s.fleet.httpGet(`http://${s.fleet.controllerHttp}/metrics`);
      return Number(body.split("\n").find((l) => l.startsWith('fleetwall_controller_signals_refused{reason="fleet-host"}'))?.split(" ").pop() ?? 0);
    };
    const refusedBefore = await refusedAsHost();
    const js = jetstream(await s.as("agent-t1"));
    for (const address of forms) await js.publish(signalSubject("t1"), JSON.stringify({ schemaVersion: SCHEMA_VERSION, hostId: "t1", jail: "sshd", address, failures: 5, at: new Date().toISOString(), banSeconds: 3600 } satisfies BanSignal));
    await waitFor("the four signals refused as a fleet host", async () => (await refusedAsHost()) >= refusedBefore + forms.length, 30_000, 100);
    // the log has the first refusal of its code and host in words (the others are counted, then summarized)
    const line = s.fleet.controller?.log().split("\n").find((l) => l.includes(`"address":"${forms[0]}"`) && l.includes("not turned into a fleet ban"));
    expect(line).toContain(`"reason":"a fleet host: ${t2.ip4} in its NAT64 form"`);
    const fleetBans = s.fleet.controller?.log().split("\n").filter((l) => l.includes('"msg":"fleet ban"')) ?? [];
    expect(fleetBans.filter((l) => /"address":"(64:ff9b|2002:|2001:0:)/.test(l))).toEqual([]);
    // and an operator is refused too, told which host registered it
    await expect(s.fleet.cli(["bans", "add", `64:ff9b::${t2.ip4}`, ...s.operator])).rejects.toThrow(new RegExp(`a fleet host: ${t2.ip4.replace(/\./g, "\\.")} in its NAT64 form \\(registered by t2\\)`));
  }, 180_000);

  it("a real attacker's brute force on t1 is still banned there and on the fleet within a second", async () => {
    const ms = await s.detect(t1, t3, attacker(1));
    expect(ms).toBeLessThan(1000);
    expect(await inSet(t1, "local4", attacker(1))).toBe(true);
    expect(await fromTo(t2, t1)).toBe("open");
  }, 180_000);

  it("an agent's credentials read the list and nothing else of its bucket or of the hosts bucket, and write none of it", async () => {
    const nc = await s.as("agent-t1");
    const kvm = new Kvm(nc);
    const protection = await kvm.open(PROTECTION_BUCKET, { bindOnly: true, allow_direct: true });
    expect((await protection.get(PROTECTION_KEY))?.string()).toContain('"entries"');
    await expect(protection.put(PROTECTION_KEY, "{}")).rejects.toThrow(/permission|timeout/i);
    await expect(protection.get("other")).rejects.toThrow(/permission|timeout/i);
    const hosts = await kvm.open(HOSTS_BUCKET, { bindOnly: true, allow_direct: true });
    await expect(hosts.get("t2")).rejects.toThrow(/permission|timeout/i);
    // the list held is still the controller's
    expect(await inSet(t1, "allow4", t2.ip4)).toBe(true);
  }, 180_000);

  let oldList = "";
  it("the protection bucket lost and the controller restarted: the list is published again above the revision agents hold, none refused", async () => {
    const nc = await s.as("controller");
    oldList = (await (await new Kvm(nc).open(PROTECTION_BUCKET, { bindOnly: true })).get(PROTECTION_KEY))?.string() ?? "";
    expect(oldList).toContain(t3.ip4);
    const held = await agentMetric(t1, "fleetwall_agent_fleet_protection_revision");
    const dropped = await agentMetric(t1, "fleetwall_agent_messages_dropped_total");
    await s.fleet.controller?.stop();
    await (await jetstreamManager(nc)).streams.delete(`KV_${PROTECTION_BUCKET}`);
    const controller = await s.fleet.startController(["--nats-nkey", join(s.creds, "controller.nk")]);
    await waitFor("the list published by the new controller", () => controller.log().includes("fleet protection list published"), 60_000, 100);
    const stored = (await (await new Kvm(nc).open(PROTECTION_BUCKET, { bindOnly: true })).get(PROTECTION_KEY))?.string() ?? "";
    const revision = Number(/"revision":(\d+)/.exec(stored)?.[1]);
    expect(revision).toBeGreaterThan(held);
    // the same entries under the new revision: held, not refused as a replay
    for (const h of [t1, t2]) await waitFor(`${h.id} holds the new revision`, async () => (await agentMetric(h, "fleetwall_agent_fleet_protection_revision")) === revision, 30_000, 100);
    expect(await agentMetric(t1, "fleetwall_agent_messages_dropped_total")).toBe(dropped);
    expect(await inSet(t1, "allow4", t3.ip4)).toBe(true);
  }, 180_000);

  it("a host forgotten by the operator leaves every host's list: it is no longer protected there", async () => {
    await t3.agent?.stop();
    expect(await s.fleet.cli(["hosts", "delete", "t3", "--force", ...s.operator])).toContain("forgot host t3");
    await waitFor("t3 left t1's allowlist", async () => !(await inSet(t1, "allow4", t3.ip4)), 30_000, 100);
    expect(await inSet(t1, "allow4", t2.ip4)).toBe(true);
    // the same crafted lines that were skipped for t2 now ban t3's address on t1, as any other
    failures(t1, t3.ip4);
    await waitFor("t3 banned locally on t1", () => inSet(t1, "local4", t3.ip4), 30_000, 100);
  }, 180_000);

  it("the list from before the bucket was lost, put back, is refused: t3 stays unprotected", async () => {
    const dropped = await agentMetric(t1, "fleetwall_agent_messages_dropped_total");
    const nc = await s.as("controller");
    await (await new Kvm(nc).open(PROTECTION_BUCKET, { bindOnly: true })).put(PROTECTION_KEY, oldList);
    await waitFor("t1 refused the old list", async () => (await agentMetric(t1, "fleetwall_agent_messages_dropped_total")) > dropped, 30_000, 100);
    expect(await inSet(t1, "allow4", t3.ip4)).toBe(false);
    expect(await inSet(t1, "allow4", t2.ip4)).toBe(true);
    await waitFor("the controller published over it", () => s.fleet.controller?.log().includes("fleet protection list overwritten by another writer") ?? false, 30_000, 100);
  }, 180_000);
});
