import { appendFileSync, mkdirSync, renameSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JAIL_LOG_DIR, createFleet, type Fleet, type FleetHost } from "../harness/fleet.js";
import { waitFor } from "../harness/sh.js";
import { syslogStamp } from "../harness/log-stamp.js";

// Each scenario bans its own address; they are never contacted, only looked up in the ban set.
const addr = (n: number) => `203.0.113.${100 + n}`;
const message = (a: string, i: number) => `Failed password for invalid user admin from ${a} port ${41000 + i} ssh2`;
const failures = (a: string, n: number) => Array.from({ length: n }, (_, i) => `${syslogStamp()} h sshd[${2000 + i}]: ${message(a, i)}\n`).join("");
// the journal holds only the message; the agent adds host, identifier and pid
const journalFailures = (a: string, n: number) => Array.from({ length: n }, (_, i) => `${message(a, i)}\n`).join("");

const POLICY = `apiVersion: fleetwall.io/v1alpha1
kind: FirewallPolicy
metadata: {name: jails}
spec:
  hostSelector: {}
  defaultInput: Accept
  jails:
    - name: file
      filter: sshd
      source: {file: ${JAIL_LOG_DIR}/auth.log}
      maxRetry: 3
      share: Local
    - name: journal
      filter: sshd
      source: {journal: {identifier: sshd}}
      maxRetry: 3
      share: Local
`;

describe("jail sources: files across rotation, truncation and restarts; the systemd journal", () => {
  let fleet: Fleet;
  let host: FleetHost;
  let log: string;

  // a jail's own (share: Local) bans are in the local sets
  const banned = (a: string) => fleet.nft(host, ["get", "element", "inet", "fleetwall_bans", "local4", `{ ${a} }`]).then(() => true, () => false);
  // generous: the ban follows the agent reading the lines, which a loaded machine delays; the waits
  // before it are on the agent's own counters, so this deadline is not what the test relies on
  const waitBanned = (a: string) => waitFor(`${a} banned`, () => banned(a), 30_000, 100);
  /** Log lines the agent's jails have read, from its own /metrics. */
  const metric = async (name: string) => {
    const { body } = await fleet.httpGet("http://127.0.0.1:9475/metrics", host);
    return Number(new RegExp(`^${name} (\\d+)`, "m").exec(body)?.[1] ?? NaN);
  };
  const linesRead = () => metric("fleetwall_agent_log_lines_total");
  /** Waits until the agent has read lines beyond `before`: what was written is behind its position. */
  const waitRead = (before: number, what: string) => waitFor(what, async () => (await linesRead()) > before, 30_000, 100);
  /**
   * Waits until the journal jail follows the journal: a jail that starts without a saved cursor
   * reads only entries made after journalctl opened the journal, which on a loaded machine is well
   * after "jail started". A harmless entry is written until the agent has read one.
   */
  const waitJournalFollowed = async () => {
    const before = await linesRead();
    await waitFor("the journal followed", async () => {
      await fleet.journalWrite(host, "sshd", "Server listening on 0.0.0.0 port 22.\n");
      return (await linesRead()) > before;
    }, 30_000, 500);
  };

  beforeAll(async () => {
    fleet = await createFleet([{ id: "j1", labels: "role=any" }]);
    host = fleet.hosts[0] as FleetHost;
    mkdirSync(fleet.hostLogDir(host), { recursive: true });
    log = join(fleet.hostLogDir(host), "auth.log");
    writeFileSync(log, "old line, before the agent started\n");
    await fleet.startJournal(host);
    fleet.writePolicy("jails.yaml", POLICY);
    await fleet.startController();
    fleet.startAgent(host);
    await fleet.waitInSync();
    await waitFor("both jails started", () => (host.agent?.log().match(/"jail started"/g) ?? []).length === 2, 30_000);
    await waitJournalFollowed();
  });

  afterAll(async () => {
    await fleet?.destroy();
  });

  it("follows a file", async () => {
    appendFileSync(log, failures(addr(1), 3));
    await waitBanned(addr(1));
  });

  it("follows the file across rotation (rename, new file)", async () => {
    appendFileSync(log, failures(addr(2), 1));
    renameSync(log, `${log}.1`);
    writeFileSync(log, failures(addr(2), 2));
    await waitBanned(addr(2));
  });

  it("starts again from the top of a truncated file", async () => {
    const before = await linesRead();
    appendFileSync(log, "x".repeat(4096) + "\n");
    // the follower must have passed the long line: truncated to less than its position, the file
    // is read from the top (had it not, the shorter new content would look like an append)
    await waitRead(before, "the long line read");
    truncateSync(log, 0);
    appendFileSync(log, failures(addr(3), 3));
    await waitBanned(addr(3));
  });

  it("resumes at its saved position after a restart: failures written while it was down still count", async () => {
    await host.agent?.stop();
    appendFileSync(log, failures(addr(4), 2));
    fleet.startAgent(host);
    await waitFor("jails restarted", () => (host.agent?.log().match(/"jail started"/g) ?? []).length >= 4, 30_000);
    appendFileSync(log, failures(addr(4), 1));
    await waitBanned(addr(4));
  });

  it("does not count failures logged before findTime ago (an old log appended), and counts them, and says so, by jail", async () => {
    const tooOld = async () => {
      const { body } = await fleet.httpGet("http://127.0.0.1:9475/metrics", host);
      return Number(/^fleetwall_agent_jail_lines_too_old_total\{jail="file"\} (\d+)/m.exec(body)?.[1] ?? 0);
    };
    const before = await tooOld();
    const twoHoursAgo = syslogStamp(new Date(Date.now() - 2 * 3600_000));
    const old = [0, 1, 2].map((i) => `${twoHoursAgo} h sshd[${2100 + i}]: ${message(addr(10), i)}\n`);
    // rsyslog's high-precision stamp carries its year and zone: a 2015 line
    const older = [0, 1, 2].map((i) => `2015-01-20T10:00:0${i}.000000+00:00 h sshd[${2200 + i}]: ${message(addr(10), i)}\n`);
    appendFileSync(log, [...old, ...older].join(""));
    await waitFor("the old failures read and skipped", async () => (await tooOld()) >= before + 6, 30_000, 100);
    expect(await banned(addr(10))).toBe(false);
    expect(host.agent?.log()).toContain("jail failure logged before findTime ago; not counted");
    // the same address failing now is banned: three fresh failures, not three on top of six old ones
    const read = await linesRead();
    appendFileSync(log, failures(addr(10), 2));
    await waitFor("two fresh failures read", async () => (await linesRead()) >= read + 2, 30_000, 100);
    expect(await banned(addr(10))).toBe(false);
    appendFileSync(log, `${syslogStamp()} h sshd[2302]: ${message(addr(10), 2)}\n`);
    await waitBanned(addr(10));
  });

  it("reads the systemd journal by identifier, resuming after its saved cursor", async () => {
    await fleet.journalWrite(host, "sshd", journalFailures(addr(5), 3));
    await waitBanned(addr(5));
    await host.agent?.stop();
    await fleet.journalWrite(host, "sshd", journalFailures(addr(6), 2));
    fleet.startAgent(host);
    await waitFor("jails restarted", () => (host.agent?.log().match(/"jail started"/g) ?? []).length >= 6, 30_000);
    await fleet.journalWrite(host, "sshd", journalFailures(addr(6), 1));
    await waitBanned(addr(6));
    expect(await banned(addr(7))).toBe(false);
  });

  it("counts only sshd's own journal entries: the identifier sshd from another program or another user is ignored, and counted", async () => {
    const before = await metric("fleetwall_agent_log_untrusted_total");
    // root, but not sshd (systemd-cat -t sshd); a program named sshd, but run by nobody
    await fleet.journalWrite(host, "sshd", journalFailures(addr(8), 3), { program: "systemd-cat" });
    await fleet.journalWrite(host, "sshd", journalFailures(addr(8), 3), { program: "sshd", uid: 65534 });
    await waitFor("the forged entries counted", async () => (await metric("fleetwall_agent_log_untrusted_total")) >= before + 6, 30_000, 100);
    // sshd's own entries after them still count: the forged ones were read and ignored
    await fleet.journalWrite(host, "sshd", journalFailures(addr(9), 3));
    await waitBanned(addr(9));
    expect(await banned(addr(8))).toBe(false);
  });
});
