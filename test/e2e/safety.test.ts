import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, createFleet, type Fleet, type FleetHost } from "../harness/fleet.js";
import { waitFor } from "../harness/sh.js";

const example = readFileSync(join(REPO, "examples/web-server.yaml"), "utf8");
// Without the established baseline, and with the agents' NATS failsafe switched off, nothing lets the
// NATS server's replies in: the agents cut themselves off the bus.
const LOCKOUT = example.replace("  defaultInput: Drop\n", "  defaultInput: Drop\n  baseline: {established: false}\n");

describe("commit-confirm: a ruleset that cuts a host off the bus is rolled back", () => {
  let fleet: Fleet;
  let hosts: FleetHost[];

  beforeAll(async () => {
    fleet = await createFleet([
      { id: "s1", labels: "role=web" },
      { id: "s2", labels: "role=web" },
    ]);
    hosts = fleet.hosts;
    await fleet.listen(["tcp:80", "tcp:443"]);
    fleet.writePolicy("web.yaml", example);
    await fleet.startController();
    for (const h of hosts) fleet.startAgent(h, ["--no-nats-failsafe", "--confirm-window", "3s"]);
    await fleet.waitInSync();
  });

  afterAll(async () => {
    await fleet?.destroy();
  });

  it("restores the previous ruleset on every host and says why in the status", async () => {
    expect(LOCKOUT).toContain("established: false");
    fleet.writePolicy("web.yaml", LOCKOUT);
    await waitFor("both hosts report the rollback", async () => {
      const s = await fleet.status();
      return s.hosts.every((h) => h.error?.includes("rolled back") && h.appliedRevision === 1 && !h.inSync);
    }, 60_000, 250);
    for (const h of hosts) {
      const input = await fleet.nft(h, ["list", "chain", "inet", "fleetwall", "input"]);
      expect(input, h.id).toContain('comment "baseline/established"');
      expect(h.agent?.log()).toContain("rolling back");
    }
    // open ports answer at once; a loaded machine gets a generous timeout for them
    const r = await fleet.probe(hosts.map((h) => `tcp:${h.ip4}:80`), 3000);
    expect(Object.values(r)).toEqual([true, true]);
  });

  it("takes the next good revision", async () => {
    fleet.writePolicy("web.yaml", example.replace("ports: [80, 443]", "ports: [443]"));
    await fleet.waitInSync(60_000);
    const s = await fleet.status();
    expect(s.hosts.map((h) => [h.appliedRevision, h.error])).toEqual([[3, null], [3, null]]);
    const r = await fleet.probe(hosts.map((h) => `tcp:${h.ip4}:80`));
    expect(Object.values(r)).toEqual([false, false]);
  });
});
