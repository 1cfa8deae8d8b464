import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { attacker } from "../harness/netns.js";
import type { FleetHost } from "../harness/fleet.js";
import { securedFleet, type SecuredFleet } from "../harness/secured-fleet.js";
import { waitFor } from "../harness/sh.js";
import { syslogStamp } from "../harness/log-stamp.js";

// issue #18, row 6: an SSH login attempt with the user name `a from V port 22 ssh2: b` must not
// make V a failure (fail2ban's filter takes the first address of that line). Two hosts see it, and
// the controller needs two reporters: before the fix, V was banned fleet-wide.
const ATTACKER = attacker(1);
const VICTIM = attacker(2);
// a victim whose address is the start of the attacker's text (203.0.113.1 in 203.0.113.11)
const PREFIX_VICTIM = ATTACKER.slice(0, -1);

/** The lines sshd writes for a password attempt with a crafted user name, from the attacker's address. */
const crafted = (host: string, pid: number, i: number) =>
  [
    `${syslogStamp()} ${host} sshd[${pid}]: Invalid user a from ${VICTIM} port 22 ssh2: b from ${ATTACKER} port ${40000 + i}`,
    `${syslogStamp()} ${host} sshd[${pid}]: Failed password for invalid user a from ${VICTIM} port 22 ssh2: b from ${ATTACKER} port ${40000 + i} ssh2`,
    `${syslogStamp()} ${host} sshd[${pid}]: Failed keyboard-interactive/pam for invalid user a from ${VICTIM} port 22 ssh2: b from ${ATTACKER} port ${40000 + i} ssh2`,
    `${syslogStamp()} ${host} sshd[${pid}]: Connection closed by invalid user a ${VICTIM} on ${ATTACKER} port ${40000 + i} [preauth]`,
    // a failure without an address, then a closing line whose user name ends in `<victim> on`
    `${syslogStamp()} ${host} sshd[${pid + 5}]: Disconnecting: Too many authentication failures for a [preauth]`,
    `${syslogStamp()} ${host} sshd[${pid + 5}]: Connection closed by invalid user a ${PREFIX_VICTIM} on ${ATTACKER} port ${40000 + i} [preauth]`,
    // another program's line with an sshd-looking message in it
    `${syslogStamp()} ${host} logger[${pid + 1}]: sshd[${pid}]: Failed password for root from ${VICTIM} port 22 ssh2`,
  ].join("\n") + "\n";

describe("log lines cannot choose the victim (#18.6), on the secured fleet", () => {
  let s: SecuredFleet;
  let hosts: FleetHost[];

  beforeAll(async () => {
    s = await securedFleet(["a", "b"], { attackers: 2, controller: ["--min-reporters", "2"] });
    hosts = s.fleet.hosts;
  }, 180_000);

  afterAll(async () => {
    await s?.destroy();
  });

  it("a crafted user name on two hosts with --min-reporters 2 bans the attacker, never the address it names", async () => {
    const t0 = performance.now();
    for (const [n, h] of hosts.entries()) {
      appendFileSync(join(s.fleet.hostLogDir(h), "auth.log"), [1, 2, 3].map((i) => crafted(h.id, 1000 * (n + 1) + i * 10, i)).join(""));
    }
    // the attacker's own address is what the lines prove: both hosts report it, the fleet bans it
    await waitFor("the attacker banned on both hosts", async () => (await Promise.all(hosts.map((h) => s.banned(h, ATTACKER)))).every(Boolean), 30_000, 20);
    console.log(`crafted lines written → the attacker banned on both hosts: ${(performance.now() - t0).toFixed(0)} ms`);
    const list = JSON.parse(await s.fleet.cli(["bans", "list", ...s.operator, "--json"])) as { cidr: string }[];
    expect(list.map((d) => d.cidr)).toContain(ATTACKER);
    expect(list.map((d) => d.cidr)).not.toContain(VICTIM);
    expect(list.map((d) => d.cidr)).not.toContain(PREFIX_VICTIM);
    for (const h of hosts) expect(await s.banned(h, VICTIM), h.id).toBe(false);
    for (const h of hosts) expect(await s.banned(h, PREFIX_VICTIM), h.id).toBe(false);
    for (const h of hosts) expect(h.agent?.log(), h.id).not.toContain(`"address":"${VICTIM}"`);
  }, 180_000);
});
