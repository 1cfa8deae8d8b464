import { join } from "node:path";
import { connect as tcpConnect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AckPolicy, DeliverPolicy, jetstreamManager } from "@nats-io/jetstream";
import { BANS_BUCKET, DESIRED_BUCKET, reportSubject } from "@fleetwall/api";
import { HTTP_LIMITS } from "@fleetwall/runtime";
import { attacker } from "../harness/netns.js";
import { securedFleet, type SecuredFleet } from "../harness/secured-fleet.js";
import type { FleetHost } from "../harness/fleet.js";
import { waitFor } from "../harness/sh.js";

// #18, second attacker review, on the documented secured fleet: deeply nested reports from one agent,
// a flood of idle HTTP connections, and consumers made while no controller ran (one of them copying
// the bans stream into the desired stream; agents may not create consumers, an operator's CLI may)
// neither stall nor crash the controller, nor last.
const BANS_STREAM = `KV_${BANS_BUCKET}`;
const DESIRED_STREAM = `KV_${DESIRED_BUCKET}`;

describe("the controller reads the bus within bounds (#18, second review)", () => {
  let s: SecuredFleet;
  let t1: FleetHost;
  let t2: FleetHost;
  const log = () => s.fleet.controller?.log() ?? "";
  const metric = async (name: string) => {
    const { body } = await s.fleet.httpGet(`http://${s.fleet.controllerHttp}/metrics`);
    return body.split("\n").filter((l) => l.startsWith(name)).join("\n");
  };

  beforeAll(async () => {
    s = await securedFleet(["t1", "t2"], { attackers: 3 });
    [t1, t2] = s.fleet.hosts as [FleetHost, FleetHost];
  }, 120_000);

  afterAll(async () => {
    await s?.destroy();
  });

  it("a flood of 800 KB reports nested 400,000 deep from one agent is dropped unparsed: a real detection is shared within a second meanwhile", async () => {
    const nc = await s.as("agent-t1");
    const body = new TextEncoder().encode(`{"hostId":"t1","x":${"[".repeat(400_000)}${"]".repeat(400_000)}}`);
    let flooding = true;
    let sent = 0;
    const flood = (async () => {
      while (flooding) {
        for (let i = 0; i < 10; i += 1) nc.publish(reportSubject("t1"), body);
        sent += 10;
        await nc.flush();
      }
    })();
    try {
      await waitFor("the flood under way", () => sent >= 100, 30_000, 50);
      expect(await s.detect(t2, t1, attacker(1))).toBeLessThan(1000);
      const health = await s.fleet.httpGet(`http://${s.fleet.controllerHttp}/healthz`);
      expect(health.status).toBe(200);
    } finally {
      flooding = false;
      await flood;
    }
    // most never reach the parser (over t1's rate); the rest are refused by size before parsing
    await waitFor("the drops counted", async () => /kind="report-rate"} [1-9]/.test(await metric("fleetwall_controller_invalid_messages")), 10_000);
    expect(await metric("fleetwall_controller_invalid_messages")).toMatch(/kind="report"} [1-9]/);
  }, 120_000);

  it("more idle connections than the HTTP side holds: the controller stays up and answers a new client once the idle ones are closed", async () => {
    const [host, port] = [s.fleet.controllerHttp.slice(0, s.fleet.controllerHttp.lastIndexOf(":")), Number(s.fleet.controllerHttp.split(":").pop())];
    const sockets: Socket[] = [];
    const closed: Promise<void>[] = [];
    try {
      for (let i = 0; i < HTTP_LIMITS.maxConnections + 100; i += 1) {
        const sock = tcpConnect(port, host);
        sock.on("error", () => undefined);
        closed.push(new Promise((r) => sock.once("close", () => r())));
        sockets.push(sock);
      }
      // every one is closed by the controller: past the cap at once, the others after the idle timeout
      await Promise.race([Promise.all(closed), new Promise((_r, reject) => setTimeout(() => reject(new Error("idle connections still open")), 60_000))]);
    } finally {
      for (const sock of sockets) sock.destroy();
    }
    expect((await s.fleet.httpGet(`http://${s.fleet.controllerHttp}/healthz`)).status).toBe(200);
    const exited = await Promise.race([s.fleet.controller?.exited, new Promise((r) => setTimeout(() => r("running"), 100))]);
    expect(exited).toBe("running");
  }, 120_000);

  it("consumers a FLEET key made while the controller was down are judged when it starts; what one copied into the desired stream is purged", async () => {
    for (const a of [50, 51, 52]) await s.fleet.cli(["bans", "add", `203.0.113.${a}`, ...s.operator]);
    await waitFor("the bans on t2", () => s.banned(t2, "203.0.113.52"), 15_000);
    await s.fleet.controller?.stop();
    // the server checks a create request's subject, never the deliver subject in its body
    // FLEET's controller key (operators may create no consumer)
    const jsm = await jetstreamManager(await s.as("controller"));
    const filter = `$KV.${BANS_BUCKET}.>`;
    await jsm.consumers.add(BANS_STREAM, { durable_name: "copier", deliver_subject: `$KV.${DESIRED_BUCKET}.t2`, deliver_policy: DeliverPolicy.All, filter_subject: filter, ack_policy: AckPolicy.None });
    for (let i = 0; i < 6; i += 1) await jsm.consumers.add(BANS_STREAM, { durable_name: `held${i}`, deliver_subject: `_INBOX_t1.held${i}`, filter_subject: filter, ack_policy: AckPolicy.None });
    const admin = await jetstreamManager(await s.as("controller"));
    const copied = async () => Object.values((await admin.streams.info(DESIRED_STREAM, { subjects_filter: filter })).state.subjects ?? {}).reduce((a, b) => a + b, 0);
    // nats-server stores what the consumer delivers under the bans stream's own subjects
    await waitFor("decisions copied into the desired stream", async () => (await copied()) >= 3, 15_000);
    await s.fleet.startController(["--nats-nkey", join(s.creds, "controller.nk")]);
    const names = async () => {
      const left: string[] = [];
      for await (const c of admin.consumers.list(BANS_STREAM)) left.push(c.name);
      return left;
    };
    await waitFor("the consumers deleted at start", async () => (await names()).every((n) => !/^(copier|held)/.test(n)), 30_000);
    await waitFor("the copies purged", async () => (await copied()) === 0, 15_000);
    expect(log()).toContain("delivers to $KV.fleetwall-desired.t2, outside any inbox");
    expect(log()).toContain("copied by a consumer) and purged");
    await s.fleet.waitInSync(30_000);
  }, 150_000);
});
