import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, nkeyAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { DESIRED_BUCKET, agentInboxPrefix, reportSubject } from "@fleetwall/api";
import { attacker } from "../harness/netns.js";
import { CLI, JAIL_LOG_DIR, createFleet, type Fleet, type FleetHost } from "../harness/fleet.js";
import { sh, waitFor } from "../harness/sh.js";
import { syslogStamp } from "../harness/log-stamp.js";

// Every process has its own nkey, and nats-server confines each to what `fleetwall nats-auth`
// generated: the fleet still works end to end, and an agent's credentials cannot act for another
// host or for the controller.
const ATTACKER = attacker(1);
const POLICY = `apiVersion: fleetwall.io/v1alpha1
kind: FirewallPolicy
metadata: {name: base}
spec:
  hostSelector: {}
  defaultInput: Accept
  jails:
    - name: sshd
      filter: sshd
      source: {file: ${JAIL_LOG_DIR}/auth.log}
      maxRetry: 2
      share: Fleet
`;

describe("NATS authorization: each process gets its own credentials and only its own rights", () => {
  const creds = mkdtempSync(join(tmpdir(), "fleetwall-nauth-"));
  const seed = (name: string) => join(creds, `${name}.nk`);
  let fleet: Fleet;
  let t1: FleetHost;
  let t2: FleetHost;
  const clients: NatsConnection[] = [];

  /** A connection from this test process with one of the generated identities. */
  const as = async (name: string, inboxPrefix?: string) => {
    const nc = await connect({
      servers: fleet.nats.url,
      authenticator: nkeyAuthenticator(new TextEncoder().encode(readFileSync(seed(name), "utf8").trim())),
      ...(inboxPrefix ? { inboxPrefix } : {}),
      timeout: 3000,
    });
    clients.push(nc);
    return nc;
  };

  beforeAll(async () => {
    await sh("node", [CLI, "nats-auth", "--host", "t1", "--host", "t2", "--out", creds]);
    fleet = await createFleet(
      [
        { id: "t1", labels: "role=any" },
        { id: "t2", labels: "role=any" },
      ],
      { attackers: 1, nats: { config: readFileSync(join(creds, "fleetwall-auth.conf"), "utf8"), clientArgs: ["--nats-nkey", seed("operator")] } },
    );
    [t1, t2] = fleet.hosts as [FleetHost, FleetHost];
    for (const h of fleet.hosts) {
      mkdirSync(fleet.hostLogDir(h), { recursive: true });
      appendFileSync(join(fleet.hostLogDir(h), "auth.log"), "");
    }
    fleet.writePolicy("base.yaml", POLICY);
    await fleet.startController(["--nats-nkey", seed("controller")]);
    for (const h of fleet.hosts) fleet.startAgent(h, ["--nats-nkey", seed(`agent-${h.id}`)]);
    await fleet.waitInSync();
    await waitFor("jails started", () => fleet.hosts.every((h) => h.agent?.log().includes('"jail started"')), 30_000);
  });

  afterAll(async () => {
    for (const nc of clients) await nc.close().catch(() => undefined);
    await fleet?.destroy();
    rmSync(creds, { recursive: true, force: true });
  });

  it("refuses a connection without credentials", async () => {
    await expect(connect({ servers: fleet.nats.url, reconnect: false, timeout: 2000 })).rejects.toThrow(/Authorization/i);
  });

  it("with its own credentials the fleet registers, applies, reports and shares bans", async () => {
    const status = await fleet.status();
    expect(status.hosts.map((h) => [h.id, h.inSync])).toEqual([
      ["t1", true],
      ["t2", true],
    ]);
    appendFileSync(join(fleet.hostLogDir(t1), "auth.log"), [0, 1].map((i) => `${syslogStamp()} t1 sshd[${300 + i}]: Failed password for invalid user x from ${ATTACKER} port ${40000 + i} ssh2\n`).join(""));
    for (const h of [t1, t2]) {
      await waitFor(`${ATTACKER} banned on ${h.id}`, () => fleet.nft(h, ["get", "element", "inet", "fleetwall_bans", "ban4", `{ ${ATTACKER} }`]).then(() => true, () => false), 30_000, 50);
    }
    // the operator's credentials list bans through the CLI
    const list = JSON.parse(await fleet.cli(["bans", "list", "--nats", fleet.nats.url, "--nats-nkey", seed("operator"), "--json"])) as { cidr: string }[];
    expect(list.map((b) => b.cidr)).toContain(ATTACKER);
    // and nothing any fleetwall process did was refused on the way
    expect(fleet.nats.proc.log()).not.toMatch(/Violation/);
  });

  it("an agent's credentials cannot publish another host's report", async () => {
    const controller = await as("controller");
    const seen: string[] = [];
    const sub = controller.subscribe(reportSubject("t2"), { callback: (_e, m) => void seen.push(m.string()) });
    await controller.flush();
    const agent = await as("agent-t1", agentInboxPrefix("t1"));
    const errors: string[] = [];
    void (async () => {
      for await (const s of agent.status()) if (s.type === "error") errors.push(String(s.error));
    })();
    agent.publish(reportSubject("t2"), "forged-by-t1");
    agent.publish(reportSubject("t1"), "own-subject");
    await agent.flush();
    await waitFor("the server's refusal", () => errors.some((e) => e.includes(reportSubject("t2"))), 30_000, 20);
    // t2's real heartbeats still arrive (every second): wait for two, then check none was forged
    const heartbeats = seen.length;
    await waitFor("t2's own heartbeats", () => seen.length >= heartbeats + 2, 30_000, 50);
    expect(seen).not.toContain("forged-by-t1");
    expect(errors.some((e) => e.includes(reportSubject("t1")))).toBe(false);
    sub.unsubscribe();
  });

  it("an agent's credentials cannot write desired state, nor read another host's", async () => {
    const agent = await as("agent-t1", agentInboxPrefix("t1"));
    const desired = await new Kvm(agent).open(DESIRED_BUCKET, { bindOnly: true, allow_direct: true });
    await expect(desired.put("t2", "{}")).rejects.toThrow(/permission|timeout|no responders/i);
    await expect(desired.put("t1", "{}")).rejects.toThrow(/permission|timeout|no responders/i);
    // its own key can be read, and its updates followed; another host's cannot
    expect((await desired.get("t1"))?.key).toBe("t1");
    await expect(desired.get("t2")).rejects.toThrow(/permission|timeout/i);
    await expect(desired.watch({ key: "t2" })).rejects.toThrow(/permission|timeout/i);
    const other = agent.subscribe(`$KV.${DESIRED_BUCKET}.t2`);
    const refused = await Promise.race([other.closed, new Promise((r) => setTimeout(() => r("still open"), 5_000))]);
    expect(String(refused)).toMatch(/permission/i);
    // and the fleet did not change: both hosts still in sync on the controller's revision
    const status = await fleet.status();
    expect(status.hosts.every((h) => h.inSync)).toBe(true);
  });

  it("an agent's credentials cannot use another agent's inbox nor the controller's subjects", async () => {
    const agent = await as("agent-t1", agentInboxPrefix("t1"));
    const errors: string[] = [];
    void (async () => {
      for await (const s of agent.status()) if (s.type === "error") errors.push(String(s.error));
    })();
    agent.subscribe(`${agentInboxPrefix("t2")}.>`);
    agent.publish("fleetwall.ctl.bans.add", JSON.stringify({ cidr: "203.0.113.99", durationSeconds: 60, reason: "forged" }));
    await agent.flush();
    await waitFor("the server logs refusals", () => /Violation/.test(fleet.nats.proc.log()), 30_000, 20);
    await waitFor("both refusals", () => errors.some((e) => e.includes(agentInboxPrefix("t2"))) && errors.some((e) => e.includes("fleetwall.ctl.bans.add")), 30_000, 20);
  });
});
