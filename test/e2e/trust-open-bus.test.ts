import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { DESIRED_BUCKET, generateSigningKeyPem, loadSigningKey, signPayload, envelopeText, SCHEMA_VERSION } from "@fleetwall/api";
import { attacker } from "../harness/netns.js";
import { CLI, REPO, createFleet, type Fleet, type FleetHost } from "../harness/fleet.js";
import { sh, waitFor } from "../harness/sh.js";

// #18 rows 11 and 12, and the failsafe done-when: an open bus is loud and hands no agent its key;
// the CentOS "final rules" SSH rate limit applies with default agent flags, and a management
// source is never cut, by the rate limit or by a ban.
const FINAL_RULES = `apiVersion: fleetwall.io/v1alpha1
kind: FirewallPolicy
metadata: {name: final-rules}
spec:
  hostSelector: {}
  defaultInput: Drop
  ingress:
    - name: ssh
      action: Allow
      protocol: tcp
      ports: [ssh]
      rateLimit: {newConnections: 3, perSeconds: 60}
`;

describe("an open bus is loud and safe; SSH rate limits apply, management SSH is never cut (#18 rows 11, 12)", () => {
  let fleet: Fleet;
  let plain: FleetHost; // default agent flags
  let managed: FleetHost; // --ssh-source: the client's second address is its management source
  let unpinned: FleetHost; // no --controller-key

  beforeAll(async () => {
    fleet = await createFleet([
      { id: "plain", labels: "role=any" },
      { id: "managed", labels: "role=any" },
      { id: "unpinned", labels: "role=any" },
    ], { attackers: 2 });
    [plain, managed, unpinned] = fleet.hosts as [FleetHost, FleetHost, FleetHost];
    await fleet.listen(["tcp:22"]);
    fleet.writePolicy("final-rules.yaml", FINAL_RULES);
    await fleet.startController();
    // the attacker publishes first: a state for `unpinned`, signed by a key of its own, accepting everything
    const evil = loadSigningKey(generateSigningKeyPem().privatePem);
    const nc = await connect({ servers: fleet.nats.url, timeout: 3000 });
    const state = { schemaVersion: SCHEMA_VERSION, hostId: "unpinned", revision: 99, hash: "evil", policies: [], ruleset: { baseline: { loopback: true, established: true, dropInvalid: true, badTcpFlags: true }, policies: [{ name: "open", mode: "enforce", defaultInput: "accept", defaultOutput: "accept", input: [], output: [] }], defaultInput: { verdict: "accept" }, defaultOutput: { verdict: "accept" } }, jails: [] };
    const desired = await new Kvm(nc).open(DESIRED_BUCKET, { bindOnly: true });
    // the controller makes the bucket as it starts: put once it stores
    await waitFor("the attacker's put stored", () => desired.put("unpinned", envelopeText(signPayload(evil, JSON.stringify(state)))).catch(() => undefined), 30_000, 100);
    await nc.close();
    fleet.startAgent(plain);
    fleet.startAgent(managed, ["--ssh-source", `${fleet.net.client2}/32`]);
    fleet.startAgent(unpinned, [], { controllerKey: false });
    await waitFor("two hosts in sync", async () => (await fleet.status()).hosts.filter((h) => h.inSync).length === 2, 30_000, 100);
  }, 120_000);

  afterAll(async () => {
    await fleet?.destroy();
  });

  it("row 11: the README's first setup secures the bus, and the controller and agents warn when it is open", async () => {
    const readme = readFileSync(join(REPO, "README.md"), "utf8");
    const running = readme.slice(readme.indexOf("## Running it"));
    const firstBlock = running.slice(running.indexOf("```sh"), running.indexOf("```", running.indexOf("```sh") + 5));
    expect(firstBlock.indexOf("fleetwall nats-auth")).toBeGreaterThan(-1);
    expect(firstBlock.indexOf("fleetwall nats-auth")).toBeLessThan(firstBlock.indexOf("fleetwall controller"));
    expect(firstBlock).toMatch(/fleetwall agent[^\n]*\\?\n?[^\n]*--nats-nkey/);
    // each says so once connected (the agent without a key may still be starting)
    for (const p of [fleet.controller, plain.agent, unpinned.agent]) await waitFor("the open-bus warning", () => p?.log().includes("NATS asks for no authentication"), 30_000);
  });

  it("row 12: an agent without --controller-key pins no key from an unauthenticated bus, the attacker's first", async () => {
    await waitFor("the attacker's state refused", () => unpinned.agent?.log().includes("not pinning a key from it"), 30_000);
    expect(existsSync(join(unpinned.stateDir, "controller.pub"))).toBe(false);
    await expect(fleet.nft(unpinned, ["list", "table", "inet", "fleetwall"])).rejects.toThrow();
    const status = await fleet.status();
    expect(status.hosts.find((h) => h.id === "unpinned")?.appliedRevision).toBe(0);
  });

  it("the 4th new SSH connection within a minute from one source is dropped with default agent flags; other sources still connect", async () => {
    const from = (src: string) => fleet.probeDetail([`tcp:${plain.ip4}:22@${src}`], { timeoutMs: 1000 }).then((r) => Object.values(r)[0]);
    const seen: string[] = [];
    for (let i = 0; i < 4; i += 1) seen.push((await from(attacker(1))) as string);
    expect(seen).toEqual(["open", "open", "open", "timeout"]);
    expect(await from(attacker(2))).toBe("open");
    // render says what the failsafe overrides, and that the policy's own SSH rule applies first
    const file = join(fleet.dir, "final-rules.yaml");
    writeFileSync(file, FINAL_RULES);
    const out = await sh("node", [CLI, "render", "-f", file, "--labels", "role=any"]);
    expect(out).toContain("# failsafe/ssh: SSH (tcp 22) that no policy rule matched is accepted instead of the default drop; the policies' own rules on it (rate limits, Deny, per-source Allow) apply first");
  });

  it("the management source is never cut: not by the rate limit, not by a fleet ban", async () => {
    const mgmt = fleet.net.client2;
    const tries = await Promise.all(Array.from({ length: 6 }, () => fleet.probeDetail([`tcp:${managed.ip4}:22@${mgmt}`], { timeoutMs: 1000 })));
    expect(tries.map((r) => Object.values(r)[0])).toEqual(Array(6).fill("open"));
    await fleet.cli(["bans", "add", mgmt, "--nats", fleet.nats.url, "--reason", "an operator's mistake"]);
    await waitFor("the ban on the plain host", () => fleet.nft(plain, ["get", "element", "inet", "fleetwall_bans", "ban4", `{ ${mgmt} }`]).then(() => true, () => false), 30_000);
    expect(Object.values(await fleet.probeDetail([`tcp:${plain.ip4}:22@${mgmt}`], { timeoutMs: 1000 }))).toEqual(["timeout"]);
    expect(Object.values(await fleet.probeDetail([`tcp:${managed.ip4}:22@${mgmt}`], { timeoutMs: 1000 }))).toEqual(["open"]);
  });
});
