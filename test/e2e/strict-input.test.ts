import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFleet, type Fleet, type FleetHost } from "../harness/fleet.js";
import { attacker } from "../harness/netns.js";
import { waitFor } from "../harness/sh.js";

// Issue #17, "mistakes that fail open", on a test fleet (directory source, real agents and nft):
// a misspelt field is an error naming it, and a BanList entry's hostSelector is refused, so neither
// opens or bans anything. Before, `sorces` was dropped and port 9100 answered every address, and a
// "db only" entry was banned on every host.

const ATTACKER = attacker(1);

const BASE = `apiVersion: fleetwall.io/v1alpha1
kind: FirewallPolicy
metadata: {name: base}
spec:
  hostSelector: {}
  order: 100
  defaultInput: Drop
  ingress:
    - {name: ssh, action: Allow, protocol: tcp, ports: [ssh]}
    - {name: web, action: Allow, protocol: tcp, ports: [8081]}
`;
const metrics = (sourcesField: string) => `apiVersion: fleetwall.io/v1alpha1
kind: FirewallPolicy
metadata: {name: metrics}
spec:
  hostSelector: {}
  order: 10
  ${sourcesField === "sorces" ? "defaultinput: Accept" : "defaultInput: Drop"}
  ingress:
    - {name: node-exporter, action: Allow, protocol: tcp, ports: [9100], ${sourcesField}: [203.0.113.0/24]}
`;
const DB_ONLY_BAN = `apiVersion: fleetwall.io/v1alpha1
kind: BanList
metadata: {name: db-only}
spec:
  entries:
    - {cidr: ${ATTACKER}, reason: scanner, hostSelector: {matchLabels: {role: db}}}
`;

const DB_BANS = `apiVersion: fleetwall.io/v1alpha1
kind: BanList
metadata: {name: db-bans}
spec:
  hostSelector: {matchLabels: {role: db}}
  entries:
    - {cidr: ${ATTACKER}, reason: scanner}
`;

/** A jail whose fail-regex has an unterminated group (hand-written or imported): the schema takes it, the agent's engine does not. */
const BAD_REGEX = `apiVersion: fleetwall.io/v1alpha1
kind: FirewallPolicy
metadata: {name: hand}
spec:
  hostSelector: {}
  order: 5
  ingress:
    - {name: metrics, action: Allow, protocol: tcp, ports: [9100]}
  jails:
    - name: x
      source: {file: /var/log/x.log}
      datePattern: "{^LN-BEG}"
      failRegex: ["limiting (requests client: <HOST>,"]
`;

describe("strict input on a fleet", () => {
  let fleet: Fleet;
  let web: FleetHost;
  let db: FleetHost;
  /** The error the controller reports for the policy or ban list of this name. */
  const policyError = async (name: string) => {
    const s = await fleet.status();
    return s.policies.find((p) => p.name === name)?.error ?? s.banLists.find((l) => l.name === name)?.invalid ?? null;
  };

  beforeAll(async () => {
    fleet = await createFleet([{ id: "web-1", labels: "role=web" }, { id: "db-1", labels: "role=db" }], { attackers: 1 });
    [web, db] = fleet.hosts as [FleetHost, FleetHost];
    fleet.writePolicy("base.yaml", BASE);
    await fleet.startController();
    for (const h of fleet.hosts) fleet.startAgent(h);
    await fleet.listen(["tcp:8081", "tcp:9100"]);
    await fleet.waitInSync(60_000);
  });

  afterAll(async () => {
    await fleet?.destroy();
  });

  it("starts with 8081 open and 9100 closed to everyone", async () => {
    const r = await fleet.probe([`tcp:${web.ip4}:8081`, `tcp:${web.ip4}:9100`, `tcp:${web.ip4}:9100@${ATTACKER}`]);
    expect(Object.values(r)).toEqual([true, false, false]);
  });

  it("a misspelt field (defaultinput, sorces) is refused by name and opens nothing", async () => {
    fleet.writePolicy("metrics.yaml", metrics("sorces"));
    await waitFor("metrics refused", async () => (await policyError("metrics")) !== null, 30_000, 200);
    const error = await policyError("metrics");
    expect(error).toContain("spec.ingress[0].sorces: unknown field (did you mean sources?)");
    expect(error).toContain("spec.defaultinput: unknown field (did you mean defaultInput?)");
    await fleet.waitInSync(30_000);
    const r = await fleet.probe(fleet.hosts.flatMap((h) => [`tcp:${h.ip4}:9100`, `tcp:${h.ip4}:9100@${ATTACKER}`]));
    expect(Object.values(r)).toEqual([false, false, false, false]);
  });

  it("spelt right, the same rule opens 9100 to 203.0.113.0/24 only (so the check above could see it open)", async () => {
    fleet.writePolicy("metrics.yaml", metrics("sources"));
    await waitFor("metrics valid", async () => (await policyError("metrics")) === null, 30_000, 200);
    await fleet.waitInSync(30_000);
    await waitFor("9100 open to the attacker range", async () => (await fleet.probe([`tcp:${web.ip4}:9100@${ATTACKER}`]))[`tcp:${web.ip4}:9100@${ATTACKER}`] === true, 30_000, 200);
    expect((await fleet.probe([`tcp:${web.ip4}:9100`]))[`tcp:${web.ip4}:9100`]).toBe(false);
  });

  it("a BanList entry with a hostSelector is refused with the reason and bans no one; a list of its own with spec.hostSelector bans on db hosts only", async () => {
    fleet.writePolicy("db-only.yaml", DB_ONLY_BAN);
    await waitFor("db-only refused", async () => (await policyError("db-only")) !== null, 30_000, 200);
    expect(await policyError("db-only")).toMatch(/spec\.entries\[0\]\.hostSelector: not supported: .*BanList of their own with spec\.hostSelector/);
    expect((await fleet.status()).banLists.find((l) => l.name === "db-only")).toMatchObject({ entries: 0, active: 0, hostsEnforcing: 0 });
    expect((await fleet.status()).policies.map((p) => p.name)).not.toContain("db-only");
    // what the message says to do instead: a list of its own, selecting db hosts. Once that ban is in
    // force on db-1, a ban published earlier (had the refused list been taken) would be too.
    fleet.writePolicy("db-bans.yaml", DB_BANS);
    await waitFor("the attacker banned on db-1", async () => (await fleet.probe([`tcp:${db.ip4}:8081@${ATTACKER}`]))[`tcp:${db.ip4}:8081@${ATTACKER}`] === false, 30_000, 200);
    const r = await fleet.probe([`tcp:${web.ip4}:8081@${ATTACKER}`, `tcp:${web.ip4}:8081`, `tcp:${db.ip4}:8081`]);
    expect(Object.values(r)).toEqual([true, true, true]);
  });

  it("a jail regex the agents would refuse makes the policy invalid, by field, and is never published (it would open 9100 to everyone)", async () => {
    fleet.writePolicy("hand.yaml", BAD_REGEX);
    await waitFor("hand refused", async () => (await policyError("hand")) !== null, 30_000, 200);
    expect(await policyError("hand")).toContain("spec.jails[0].failRegex[0]: does not parse: Unterminated group");
    await fleet.waitInSync(30_000);
    const r = await fleet.probe([`tcp:${web.ip4}:9100`]);
    expect(r[`tcp:${web.ip4}:9100`]).toBe(false);
    // the same policy with the regex fixed is taken, and opens what it says
    fleet.writePolicy("hand.yaml", BAD_REGEX.replace("limiting (requests", "limiting requests"));
    await waitFor("hand valid", async () => (await policyError("hand")) === null, 30_000, 200);
    await fleet.waitInSync(30_000);
    await waitFor("9100 open", async () => (await fleet.probe([`tcp:${web.ip4}:9100`]))[`tcp:${web.ip4}:9100`] === true, 30_000, 200);
  });
});
