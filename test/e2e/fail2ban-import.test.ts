import { spawnSync } from "node:child_process";
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { attacker } from "../harness/netns.js";
import { CLI, JAIL_LOG_DIR, createFleet, type Fleet, type FleetHost } from "../harness/fleet.js";
import { waitFor } from "../harness/sh.js";
import { syslogStamp, nginxStamp } from "../harness/log-stamp.js";

// issue #20, done when: `fleetwall import fail2ban` on Debian's stock configuration, with a
// jail.local enabling sshd, postfix, dovecot and nginx-limit-req (written into a copy of
// /etc/fail2ban), writes policies the controller accepts and that ban those services' attackers.
const JAIL_LOCAL = `[DEFAULT]
ignoreip = 127.0.0.1/8 ::1 198.51.100.0/24

[sshd]
enabled = true
backend = auto
logpath = ${JAIL_LOG_DIR}/auth.log

[postfix]
enabled = true
backend = auto
logpath = ${JAIL_LOG_DIR}/mail.log

[dovecot]
enabled = true
backend = auto
logpath = ${JAIL_LOG_DIR}/mail.log

[nginx-limit-req]
enabled = true
`;

// nginx-limit-req keeps Debian's logpath, the glob /var/log/nginx/*error.log (paths-common.conf). An
// agent sees only JAIL_LOG_DIR of its host (the test must not write the machine's /var/log), so
// paths-overrides.local, which paths-debian.conf reads for this, moves the directory and keeps the glob.
const PATHS_OVERRIDES = `[DEFAULT]
nginx_error_log = ${JAIL_LOG_DIR}/nginx/*error.log
`;

const SSH = attacker(1);
const SMTP = attacker(2);
const IMAP = attacker(3);
const HTTP = attacker(4);
const VHOST = attacker(5);
const OLD = attacker(6);
/** Five lines per service, as each writes them (message texts from fail2ban's own test logs). */
const limitReq = (i: number, addr: string) => `${nginxStamp()} [error] 256554#0: *9992${i} limiting requests, excess: 1.852 by zone "one", client: ${addr}, server: example.com, request: "POST /index.htm HTTP/1.0", host: "example.com"`;
const five = (line: (i: number) => string) => Array.from({ length: 5 }, (_, i) => `${line(i)}\n`).join("");
/** Made when appended: a jail does not count failures logged more than findTime ago. */
const serviceLines = () => ({
  "auth.log": five((i) => `${syslogStamp()} web sshd[${2000 + i}]: Failed password for invalid user admin from ${SSH} port ${40000 + i} ssh2`),
  "mail.log":
    five((i) => `${syslogStamp()} web postfix/smtpd[8738]: NOQUEUE: reject: RCPT from spam.example[${SMTP}]: 554 5.7.1 <smtp@example.com>: Relay access denied; from=<john@example.com> to=<smtp@example.org> proto=SMTP helo=<spam.example>`) +
    five((i) => `${syslogStamp()} web dovecot: auth-worker(31326): pam(username,${IMAP}): unknown user`),
  "nginx/error.log": five((i) => limitReq(i, HTTP)),
});

describe("fleetwall import fail2ban: Debian's stock jails on a test fleet", () => {
  let fleet: Fleet;
  let hosts: FleetHost[];
  let dir: string;
  let yaml: string;
  let report: string;
  const banned = async (h: FleetHost, addr: string) =>
    fleet.nft(h, ["get", "element", "inet", "fleetwall_bans", "ban4", `{ ${addr} }`]).then(
      () => true,
      () => false,
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "fleetwall-f2b-import-"));
    cpSync("/etc/fail2ban", join(dir, "fail2ban"), { recursive: true });
    writeFileSync(join(dir, "fail2ban", "jail.local"), JAIL_LOCAL);
    writeFileSync(join(dir, "fail2ban", "paths-overrides.local"), PATHS_OVERRIDES);
    const out = join(dir, "policy.yaml");
    const run = spawnSync("node", [CLI, "import", "fail2ban", join(dir, "fail2ban"), "-o", out], { encoding: "utf8" });
    if (run.status !== 0) throw new Error(`import failed: ${run.stderr}`);
    report = run.stderr;
    yaml = readFileSync(out, "utf8");
    fleet = await createFleet(
      [
        { id: "a", labels: "role=mail" },
        { id: "b", labels: "role=mail" },
      ],
      { attackers: 5 },
    );
    hosts = fleet.hosts;
    for (const h of hosts) {
      mkdirSync(join(fleet.hostLogDir(h), "nginx"), { recursive: true });
      for (const f of Object.keys(serviceLines())) appendFileSync(join(fleet.hostLogDir(h), f), "");
    }
    fleet.writePolicy("fail2ban.yaml", yaml);
    await fleet.startController();
    for (const h of hosts) fleet.startAgent(h);
    await fleet.waitInSync(60_000);
    await waitFor("four jails started on each host", () => hosts.every((h) => (h.agent?.log().match(/"jail started"/g) ?? []).length >= 4), 30_000);
  }, 180_000);

  afterAll(async () => {
    await fleet?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes a FirewallPolicy with the four jails and an Allow BanList for ignoreip", () => {
    expect(report).toMatch(/^imported jails: .*sshd/m);
    const docs = parseAllDocuments(yaml).map((d) => d.toJS() as { kind: string; spec: { jails?: { name: string; filter?: string; failRegex?: string[]; source?: unknown }[]; entries?: { cidr: string }[] } });
    const policy = docs.find((d) => d.kind === "FirewallPolicy");
    expect(policy?.spec.jails?.map((j) => j.name).sort()).toEqual(["dovecot", "nginx-limit-req", "postfix", "sshd"]);
    expect(policy?.spec.jails?.find((j) => j.name === "sshd")?.filter).toBe("sshd");
    expect(policy?.spec.jails?.find((j) => j.name === "postfix")?.failRegex?.length).toBeGreaterThan(0);
    expect(policy?.spec.jails?.find((j) => j.name === "nginx-limit-req")?.source).toEqual({ file: `${JAIL_LOG_DIR}/nginx/*error.log` });
    expect(docs.find((d) => d.kind === "BanList")?.spec.entries?.map((e) => e.cidr)).toEqual(["127.0.0.0/8", "::1", "198.51.100.0/24"]);
    // it filters nothing itself: no baseline drops, default Accept
    expect(policy?.spec).toMatchObject({ defaultInput: "Accept", defaultOutput: "Accept", baseline: { loopback: false, established: false, dropInvalid: false, badTcpFlags: false } });
    // Debian's usedns = warn is in [DEFAULT]: told once, for every jail that has it
    expect(report.match(/usedns warn/g)).toHaveLength(1);
  });

  it("the controller accepts the policy: every host runs it", async () => {
    const s = await fleet.status();
    expect(s.hosts.map((h) => h.id).sort()).toEqual(["a", "b"]);
    expect(fleet.controller?.log()).not.toMatch(/"reason":"Invalid"/);
  });

  it("bans the attackers of sshd, postfix, dovecot and nginx on every host", async () => {
    for (const [file, lines] of Object.entries(serviceLines())) appendFileSync(join(fleet.hostLogDir(hosts[0] as FleetHost), file), lines);
    for (const addr of [SSH, SMTP, IMAP, HTTP]) {
      await waitFor(`${addr} banned on both hosts`, async () => (await Promise.all(hosts.map((h) => banned(h, addr)))).every(Boolean), 30_000, 100);
    }
    const list = JSON.parse(await fleet.cli(["bans", "list", "--nats", fleet.nats.url, "--json"])) as { cidr: string; list: string }[];
    // the ignoreip entries are in force as Allow decisions; the jails' bans are exactly the four attackers
    expect(list.filter((d) => d.list === "fail2ban-ignoreip").map((d) => d.cidr).sort()).toEqual(["127.0.0.0/8", "198.51.100.0/24", "::1"]);
    expect(list.filter((d) => d.list.startsWith("jail-")).map((d) => `${d.list} ${d.cidr}`).sort()).toEqual([`jail-dovecot ${IMAP}`, `jail-nginx-limit-req ${HTTP}`, `jail-postfix ${SMTP}`, `jail-sshd ${SSH}`].sort());
  }, 120_000);

  it("does not ban for limit-req lines logged in 2015, appended now (the review's case)", async () => {
    const h = hosts[0] as FleetHost;
    const tooOld = async () => {
      const { body } = await fleet.httpGet("http://127.0.0.1:9475/metrics", h);
      return Number(/^fleetwall_agent_jail_lines_too_old_total\{jail="nginx-limit-req"\} (\d+)/m.exec(body)?.[1] ?? 0);
    };
    const before = await tooOld();
    const old = five((i) => limitReq(i, OLD).replace(/^\S+ \S+/, `2015/01/20 00:00:0${i}`));
    appendFileSync(join(fleet.hostLogDir(h), "nginx", "error.log"), old);
    await waitFor("the 2015 lines read and skipped", async () => (await tooOld()) >= before + 5, 30_000, 100);
    for (const x of hosts) expect(await banned(x, OLD), x.id).toBe(false);
  }, 60_000);

  it("follows a file that matches nginx's glob once it appears", async () => {
    const h = hosts[1] as FleetHost;
    writeFileSync(join(fleet.hostLogDir(h), "nginx", "vhost-error.log"), five((i) => limitReq(i, VHOST)));
    await waitFor(`${VHOST} banned on both hosts`, async () => (await Promise.all(hosts.map((x) => banned(x, VHOST)))).every(Boolean), 60_000, 200);
  }, 180_000);
});

describe("import fail2ban: its flags", () => {
  it("refuses a --selector that is not key=value, naming the flag, and writes nothing", () => {
    const run = spawnSync("node", [CLI, "import", "fail2ban", "/nonexistent-fail2ban", "--selector", "foo"], { encoding: "utf8" });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--selector: label "foo" is not of the form key=value');
    expect(run.stdout).toBe("");
  });
});
