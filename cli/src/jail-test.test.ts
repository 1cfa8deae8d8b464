import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { canonicalizer, compileFinder } from "@fleetwall/agent/filters";
import { filterFile, formatJailTest, jailTest, jailTestRun } from "./jail-test.js";

const LOGS = "/usr/lib/python3/dist-packages/fail2ban/tests/files/logs";

describe("jail test --filter-file: a fail2ban filter as is, like fail2ban-regex LOG FILTER", () => {
  const dir = mkdtempSync(join(tmpdir(), "fleetwall-jail-test-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("finds what fail2ban's own test log annotates for nginx-limit-req", async () => {
    const r = await jailTest(`${LOGS}/nginx-limit-req`, filterFile("/etc/fail2ban/filter.d/nginx-limit-req.conf", {}), []);
    expect(r.matches.map((m) => m.host)).toEqual(["1.2.3.4", "192.0.2.0", "13.123.1.123", "2606:2800:220:1:248:1893:25c8:1946"]);
  });

  it("runs sshd.conf as the built-in sshd filter, in the mode asked for", async () => {
    expect(filterFile("/etc/fail2ban/filter.d/sshd.conf", { mode: "aggressive" })).toEqual({ filter: "sshd-aggressive" });
    const r = await jailTest(`${LOGS}/sshd`, filterFile("/etc/fail2ban/filter.d/sshd.conf", {}), []);
    expect(r.matched).toBeGreaterThan(50);
  });

  it("takes the filter's mode and its .local beside it", async () => {
    const fd = join(dir, "filter.d");
    rmSync(fd, { recursive: true, force: true });
    mkdirSync(fd);
    writeFileSync(join(fd, "svc.conf"), "[Definition]\nmode = a\nfailregex = <re-<mode>>\nre-a = ^A from <HOST>$\nre-b = ^B from <HOST>$\ndatepattern = {NONE}\n");
    writeFileSync(join(fd, "svc.local"), "[Definition]\nignoreregex = from 203\\.0\\.113\\.9$\n");
    const log = join(dir, "svc.log");
    writeFileSync(log, "A from 203.0.113.1\nB from 203.0.113.2\nA from 203.0.113.9\n");
    expect((await jailTest(log, filterFile(join(fd, "svc.conf"), {}), [])).matches).toEqual([{ line: 1, host: "203.0.113.1" }]);
    expect((await jailTest(log, filterFile(join(fd, "svc.conf"), { mode: "b" }), [])).matches).toEqual([{ line: 2, host: "203.0.113.2" }]);
  });

  it("prints what jailTest finds: --json as JSON.stringify of it, the text a line per match and a summary", async () => {
    const fd = join(dir, "filter.d");
    rmSync(fd, { recursive: true, force: true });
    mkdirSync(fd);
    writeFileSync(join(fd, "svc.conf"), "[Definition]\nfailregex = ^bad from <HOST>$\ndatepattern = {NONE}\n");
    const log = join(dir, "svc-many.log");
    const hosts = ["203.0.113.1", "evil.example.org", "2001:db8::7", "203.0.113.01"];
    writeFileSync(log, Array.from({ length: 30_000 }, (_, i) => (i % 3 ? `bad from ${hosts[i % 4]}` : "good")).join("\n"));
    const spec = filterFile(join(fd, "svc.conf"), {});
    const r = await jailTest(log, spec, []);
    expect(r.matches.filter((m) => m.address === false)).toHaveLength(5_000);
    for (const json of [true, false]) {
      const pieces: string[] = [];
      formatJailTest(jailTestRun(log, spec, []), json, (p) => pieces.push(p));
      expect(pieces.length).toBeGreaterThan(1);
      const text = `${r.matches.map((m) => `${m.line}: ${m.host}${m.address === false ? " (a host name: not banned)" : ""}`).join("\n")}\nlines: ${r.lines}, matched: ${r.matched}\n`;
      expect(pieces.join("")).toBe(json ? `${JSON.stringify(r)}\n` : text);
    }
    const none: string[] = [];
    formatJailTest({ lines: 3, lineNos: [], hosts: [], hostNames: new Set() }, false, (p) => none.push(p));
    expect(none.join("")).toBe("lines: 3, matched: 0\n");
  });

  it("roundcube-auth: runs the regexes it can, as import does, and tells which it left out", async () => {
    const left: string[] = [];
    const spec = filterFile("/etc/fail2ban/filter.d/roundcube-auth.conf", {}, (l) => left.push(`${l.what}: ${l.why}`));
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(/^failregex \^\(\?:FAILED login\|Login failed\).*\(\?P=user\).*: .*backtracking/);
    const r = await jailTest(`${LOGS}/roundcube-auth`, spec, []);
    expect(r.matched).toBeGreaterThan(0);
  });

  it("skips only lines the filter would reject: the same matches as feeding it every line", async () => {
    // fail2ban's test logs one after another: many programs, date formats and a few non-ASCII lines
    const text = readdirSync(LOGS).filter((f) => statSync(join(LOGS, f)).isFile()).sort().map((f) => readFileSync(join(LOGS, f), "utf8")).join("\n");
    const log = join(dir, "all.log");
    writeFileSync(log, text);
    for (const name of ["postfix", "dovecot", "nginx-limit-req", "sshd", "sendmail-reject", "apache-auth"]) {
      const spec = filterFile(`/etc/fail2ban/filter.d/${name}.conf`, {});
      const find = compileFinder(spec, []);
      const canonical = canonicalizer();
      const want = text.split("\n").flatMap((l, i) => {
        const found = find(l);
        if (found === undefined) return [];
        const host = canonical(found);
        return [host ? { line: i + 1, host } : { line: i + 1, host: found, address: false as const }];
      });
      expect(want.length, name).toBeGreaterThan(0);
      expect((await jailTest(log, spec, [])).matches, name).toEqual(want);
    }
  });
});
