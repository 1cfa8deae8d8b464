import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFleet, type Fleet, type FleetHost } from "../harness/fleet.js";
import { attacker } from "../harness/netns.js";
import { CommandError, waitFor } from "../harness/sh.js";

// Issue 17, "mistakes fail closed": a duplicated policy name, an invalid edit across a controller
// restart, a ban longer than the controller allows, and a policy of 20,000 sources, on a real fleet.

const policy = (name: string, ports: (number | string)[]) => `apiVersion: fleetwall.io/v1alpha1
kind: FirewallPolicy
metadata: {name: ${name}}
spec:
  hostSelector: {}
  ingress:
    - {name: open, action: Allow, protocol: tcp, ports: [${ports.join(", ")}]}
`;

/** A jail whose second fail-regex has an unterminated group: the schema takes it, the agent's engine does not. */
const BAD_REGEX = `apiVersion: fleetwall.io/v1alpha1
kind: FirewallPolicy
metadata: {name: bad-regex}
spec:
  hostSelector: {}
  defaultInput: Accept
  jails:
    - name: x
      source: {file: /var/log/x.log}
      datePattern: "{^LN-BEG}"
      failRegex: ["limiting requests, client: <HOST>,", "limiting (requests client: <HOST>,"]
`;

/** 20,000 sources in two rules of 10,000 (the most one rule takes): 9,999 /24s of 10.0.0.0/9 and one attacker address each. */
function bigPolicy(allowed: string): string {
  const rule = (r: number) => {
    const sources = Array.from({ length: 9999 }, (_, i) => `10.${r * 64 + (i >> 8)}.${i & 255}.0/24`);
    sources.splice(5000, 0, r === 0 ? allowed : "198.51.100.7");
    return `    - name: many-${r}\n      action: Allow\n      protocol: tcp\n      ports: [8443]\n      sources:\n${sources.map((s) => `        - ${s}`).join("\n")}`;
  };
  return `apiVersion: fleetwall.io/v1alpha1\nkind: FirewallPolicy\nmetadata: {name: big}\nspec:\n  hostSelector: {}\n  ingress:\n${rule(0)}\n${rule(1)}\n`;
}

describe("mistakes fail closed (issue 17)", () => {
  let fleet: Fleet;
  let host: FleetHost;
  const tcp = (port: number, from?: string) => `tcp:${host.ip4}:${port}${from ? `@${from}` : ""}`;
  const webStatus = async () => (await fleet.status()).policies.find((p) => p.name === "web");

  beforeAll(async () => {
    fleet = await createFleet([{ id: "web-1", labels: "role=web" }], { attackers: 2 });
    host = fleet.hosts[0] as FleetHost;
    await fleet.listen(["tcp:22", "tcp:80", "tcp:8443", "tcp:9100"]);
    fleet.writePolicy("web.yaml", policy("web", [22, 80]));
    await fleet.startController();
    fleet.startAgent(host);
    await fleet.waitInSync(60_000);
  });

  afterAll(async () => {
    await fleet?.destroy();
  });

  it("refuses a second file defining the same name, keeps the policy in force, and names both files", async () => {
    const before = (await fleet.status()).hosts[0]?.desiredRevision;
    // the newcomer sorts first: by path alone it would win
    fleet.writePolicy("a-web.yaml", policy("web", [22, 80, 9100]));
    await waitFor("the duplicate reported", async () => (await webStatus())?.error?.includes("a-web.yaml"), 30_000, 200);
    const web = await webStatus();
    expect(web?.error).toContain('FirewallPolicy "web" in a-web.yaml is ignored: the name is already defined in web.yaml, which stays in force');
    expect(web).toMatchObject({ selectedHosts: 1, appliedHosts: 1 });
    expect((await fleet.status()).hosts[0]?.desiredRevision).toBe(before);
    const r = await fleet.probe([tcp(80), tcp(9100)]);
    expect(r).toEqual({ [tcp(80)]: true, [tcp(9100)]: false });
  });

  it("keeps enforcing the last valid version of an invalid edit, also after the controller restarts", { timeout: 180_000 }, async () => {
    const before = (await fleet.status()).hosts[0]?.desiredRevision;
    fleet.writePolicy("web.yaml", policy("web", [22, 80, 70000]));
    await waitFor("the invalid edit reported", async () => (await webStatus())?.error?.includes("65535"), 30_000, 200);
    await fleet.controller?.stop();
    const log = (await fleet.startController()).log;
    // the new controller has read the directory and compiled: the policy counts its host again
    await waitFor("the restarted controller's status", async () => {
      const web = await webStatus().catch(() => undefined);
      return web?.error?.includes("65535") && web.selectedHosts === 1 && log().includes("resources loaded");
    }, 60_000, 200);
    await fleet.waitInSync(60_000);
    const s = await fleet.status();
    // nothing republished: the host keeps the state it had, and still the incumbent of the duplicate
    expect(s.hosts[0]?.desiredRevision).toBe(before);
    expect(s.policies.find((p) => p.name === "web")?.error).toContain("a-web.yaml is ignored");
    const r = await fleet.probe([tcp(22), tcp(80), tcp(9100)]);
    expect(r).toEqual({ [tcp(22)]: true, [tcp(80)]: true, [tcp(9100)]: false });
    // repaired: the fixed file is in force, the duplicate is still refused
    fleet.writePolicy("web.yaml", policy("web", [22, 80, 9100]));
    await waitFor("the repaired policy applied", async () => (await fleet.probe([tcp(9100)]))[tcp(9100)], 60_000, 300);
  });

  it("refuses a ban longer than the controller's --max-ban, with its reason, and bans nothing", async () => {
    const err = await fleet.cli(["bans", "add", attacker(2), "--duration", "400d", "--nats", fleet.natsUrls]).then(() => undefined, (e: unknown) => e as CommandError);
    expect(err).toBeInstanceOf(CommandError);
    expect(err?.message).toContain("a ban of 400d is longer than the controller allows (--max-ban 30d)");
    expect(await fleet.cli(["bans", "list", "--nats", fleet.natsUrls, "--json"])).not.toContain(attacker(2));
    expect(await fleet.cli(["bans", "add", attacker(2), "--duration", "30d", "--nats", fleet.natsUrls])).toContain("banned");
    await fleet.cli(["bans", "delete", attacker(2), "--nats", fleet.natsUrls]);
  });

  it("enforces a policy of 20,000 sources as named sets: one listed source connects, another not", { timeout: 180_000 }, async () => {
    fleet.writePolicy("a-web.yaml", "# emptied\n");
    fleet.writePolicy("big.yaml", bigPolicy(attacker(1)));
    await waitFor("the big policy applied", async () => (await fleet.status()).policies.find((p) => p.name === "big")?.appliedHosts === 1, 120_000, 500);
    const sets = await fleet.nft(host, ["-t", "list", "table", "inet", "fleetwall"]);
    expect(sets).toMatch(/set a_in_big_\d+_s4 \{/);
    const r = await fleet.probe([tcp(8443, attacker(1)), tcp(8443, attacker(2))]);
    expect(r).toEqual({ [tcp(8443, attacker(1))]: true, [tcp(8443, attacker(2))]: false });
  });
});

describe("--check-config checks what it can (issue 17)", () => {
  let fleet: Fleet;
  let controller: string[];
  let agent: string[];
  const refusal = (args: string[]) => fleet.cli(args).then(() => "accepted", (e: unknown) => (e as CommandError).stderr);

  beforeAll(async () => {
    fleet = await createFleet([{ id: "web-1", labels: "role=web" }]);
    fleet.writePolicy("web.yaml", policy("web", [22]));
    await fleet.startController();
    controller = ["controller", "--check-config", "--nats", fleet.natsUrls, "--signing-key", fleet.signingKey];
    agent = ["agent", "--check-config", "--nats", fleet.natsUrls, "--host-id", "web-1", "--state-dir", (fleet.hosts[0] as FleetHost).stateDir];
  });

  afterAll(async () => {
    await fleet?.destroy();
  });

  it("accepts the fleet's own configuration, durations in any unit the grammar has", async () => {
    expect(await fleet.cli([...controller, "--source", `dir:${fleet.policyDir}`, "--relist", "1d", "--max-ban", "30d", "--rescan", "1h30m"])).toBe("configuration OK\n");
    expect(await fleet.cli([...agent, "--controller-key", `${fleet.signingKey}.pub`, "--heartbeat", "500ms"])).toBe("configuration OK\n");
  });

  it.each([
    ["a policy directory that is not there", ["--source", "dir:/nonexistent"], "--source: /nonexistent: no such directory"],
    ["a NATS URL that is not one", ["--source", "dir:POLICY_DIR", "--nats", "foo"], '--nats: "foo" is not a NATS URL'],
    ["a duration without a unit", ["--source", "dir:POLICY_DIR", "--rescan", "10"], '--rescan: "10" has no unit: add one, e.g. 10s, 10m or 10ms'],
    ["a relist beyond its bound", ["--source", "dir:POLICY_DIR", "--relist", "30d"], "--relist: 30d is out of range: must be between 10s and 7d"],
    ["a kubeconfig that is not one", ["--source", "kube", "--kubeconfig", "/etc/hostname"], "--kubeconfig: /etc/hostname names no cluster"],
    ["a signing key that is not a key", ["--source", "dir:POLICY_DIR", "--signing-key", "/etc/hostname"], "--signing-key: /etc/hostname is not a PEM private key"],
  ])("the controller refuses %s", async (_, args, message) => {
    expect(await refusal([...controller, ...args.map((a) => a.replace("POLICY_DIR", fleet.policyDir))])).toContain(message);
  });

  it("the controller refuses an invalid manifest in its directory, naming the file", async () => {
    fleet.writePolicy("bad.yaml", policy("bad", [70000]));
    expect(await refusal([...controller, "--source", `dir:${fleet.policyDir}`])).toMatch(/--source: bad\.yaml: FirewallPolicy bad: spec\.ingress\[0\]\.ports\[0\]: .*65535/);
  });

  it("the controller refuses a jail regex the agents would refuse, naming the field (it said \"configuration OK\")", async () => {
    fleet.writePolicy("bad.yaml", BAD_REGEX);
    expect(await refusal([...controller, "--source", `dir:${fleet.policyDir}`])).toContain("--source: bad.yaml: FirewallPolicy bad-regex: spec.jails[0].failRegex[1]: does not parse: Unterminated group");
    fleet.writePolicy("bad.yaml", BAD_REGEX.replace("limiting (requests", "limiting requests"));
    expect(await fleet.cli([...controller, "--source", `dir:${fleet.policyDir}`])).toBe("configuration OK\n");
  });

  it.each([
    ["a controller key that is not there", ["--controller-key", "/nonexistent.pub"], "--controller-key: /nonexistent.pub: no such file"],
    ["the private key where the public one belongs", ["--controller-key", "SIGNING_KEY"], "is a private key: give the public one (.pub)"],
    ["a heartbeat without a unit", ["--heartbeat", "10"], '--heartbeat: "10" has no unit'],
    ["a heartbeat too short", ["--heartbeat", "10ms"], "--heartbeat: 10ms is out of range: must be between 100ms and 10m"],
    ["a NATS URL that is not one", ["--nats", "foo"], '--nats: "foo" is not a NATS URL'],
  ])("the agent refuses %s", async (_, args, message) => {
    expect(await refusal([...agent, ...args.map((a) => (a === "SIGNING_KEY" ? fleet.signingKey : a))])).toContain(message);
  });
});
