import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { canonicalizer, compileFilter, compileFinder } from "./filters.js";
import { splitSession, sshdFilter, type SshdMode } from "./sshd-filter.js";

/**
 * fail2ban's own annotated sshd test logs (Debian's fail2ban package; scripts/setup.sh installs it).
 * Each log line follows a `# failJSON: {...}` comment saying whether fail2ban finds a failure in it
 * and whose; `# filterOptions` comments say which of fail2ban's sshd modes a block is for, and a
 * failJSON `constraint` limits a line to some modes. fail2ban keeps one filter (and its session
 * state) per mode and log type for the whole run, and feeds a line only to the modes it is for.
 */
const LOGS = "/usr/lib/python3/dist-packages/fail2ban/tests/files/logs";
const FILTER: Record<SshdMode, string> = { normal: "sshd", ddos: "sshd-ddos", extra: "sshd-extra", aggressive: "sshd-aggressive" };

interface Expectation {
  file: string;
  line: number;
  text: string;
  mode: SshdMode;
  logtype: string;
  match: boolean;
  host: string | undefined;
}

type Opts = Record<string, unknown>;

/** fail2ban's test conditions are Python expressions; these are the ones its sshd logs use. */
function holds(expr: string, opts: Opts): boolean {
  const e = expr.replace(/\s+/g, "");
  if (e === "name=='sshd'") return true;
  const m = /^opts\.get\('mode'\)(==|!=)'(\w+)'$/.exec(e);
  if (!m) throw new Error(`unknown fail2ban test condition ${expr}`);
  return (opts.mode === m[2]) === (m[1] === "==");
}

function expectations(file: string): Expectation[] {
  const out: Expectation[] = [];
  let common: Opts = {};
  let blocks: Opts[] = [{}];
  let pending: Opts | undefined;
  readFileSync(`${LOGS}/${file}`, "utf8").split("\n").forEach((text, i) => {
    const directive = /^#\s*(failJSON|filterOptions|fileOptions|addFILE):\s*(.*)$/.exec(text);
    if (directive) {
      const value = JSON.parse(directive[2] as string) as Opts | Opts[];
      if (directive[1] === "fileOptions") common = value as Opts;
      else if (directive[1] === "filterOptions") {
        blocks = (Array.isArray(value) ? value : [value]).map((o) => ({ ...common, ...o })).filter((o) => typeof o["test.condition"] !== "string" || holds(o["test.condition"], o));
      } else if (directive[1] === "failJSON") pending = value as Opts;
      return;
    }
    if (text.startsWith("#") || !text.trim()) return;
    const fail = pending ?? {};
    pending = undefined;
    for (const opts of blocks.length ? blocks : [common]) {
      if (typeof fail.constraint === "string" && !holds(fail.constraint, opts)) continue;
      out.push({
        file,
        line: i + 1,
        text,
        mode: (opts.mode as SshdMode | undefined) ?? "normal",
        logtype: (opts.logtype as string | undefined) ?? "file",
        match: fail.match === true,
        host: typeof fail.host === "string" ? fail.host : undefined,
      });
    }
  });
  return out;
}

/**
 * Lines where fleetwall differs from fail2ban on purpose (docs/detection.md, "Where fleetwall differs
 * from fail2ban"): the message, and what fleetwall finds instead.
 */
const DELIBERATE: Readonly<Record<string, { finds: string | undefined; why: string }>> = {
  "Failed password for invalid user test from 127.0.0.1 port 58946 ssh2: from 10.10.1.2 port 55555 ssh2": {
    finds: "10.10.1.2",
    why: "a password line has no auth info: sshd appends the source last; `test from 127.0.0.1 port 58946 ssh2:` can be the user name",
  },
};
const deliberate = (text: string) => Object.entries(DELIBERATE).find(([k]) => text.endsWith(k))?.[1];

describe("the sshd filter against fail2ban's annotated test logs", () => {
  it("has the logs to compare with", () => {
    expect(existsSync(`${LOGS}/sshd`), `${LOGS}/sshd is missing: scripts/setup.sh installs Debian's fail2ban`).toBe(true);
  });

  const all = ["sshd", "sshd-journal"].flatMap((f) => (existsSync(`${LOGS}/${f}`) ? expectations(f) : []));

  it.each(["normal", "ddos", "extra", "aggressive"] as SshdMode[])("finds the same failures as fail2ban, line by line, in %s mode", (mode) => {
    const cases = all.filter((c) => c.mode === mode);
    // fail2ban keeps one filter per mode and log type across both files; so does the comparison
    const filters = new Map<string, ReturnType<typeof compileFinder>>();
    const canonical = canonicalizer();
    const norm = (host: string | undefined) => (host === undefined ? undefined : (canonical(host) ?? host));
    const differences: string[] = [];
    for (const c of cases) {
      let find = filters.get(c.logtype);
      if (!find) filters.set(c.logtype, (find = compileFinder(FILTER[mode], [])));
      const found = find(c.text);
      const differs = deliberate(c.text);
      const ok = differs
        ? found === differs.finds
        : c.match
          ? found !== undefined && (c.host === undefined || norm(found) === norm(c.host))
          : found === undefined;
      if (!ok) differences.push(`${c.file}:${c.line}: fail2ban ${c.match ? `finds ${c.host ?? "a failure"}` : "finds nothing"}, fleetwall ${found ?? "nothing"}: ${c.text}`);
    }
    expect(differences).toEqual([]);
    // the comparison covers what the logs hold for this mode, failures and non-failures
    expect(cases.filter((c) => c.match).length).toBeGreaterThan(mode === "normal" ? 100 : 20);
    expect(cases.filter((c) => !c.match).length).toBeGreaterThan(mode === "normal" ? 10 : 2);
  });

  it("finds host names as fail2ban does, but a jail bans only addresses", () => {
    const line = "May 29 20:56:52 imago sshd[28732]: error: PAM: Authentication failure for stefanor from example.com";
    expect(compileFinder("sshd", [])(line)).toBe("example.com");
    expect(compileFilter("sshd", [])(line)).toBeUndefined();
  });
});

describe("sshd sessions", () => {
  it.each([
    ["Nov 23 21:50:19 sshd[8148]: Disconnecting: Too many", " 8148", "Disconnecting: Too many"],
    ["Jun 21 16:47:48 digital sshd[13709]: error: PAM: Authentication failure", "digital 13709", "Authentication failure"],
    ["Mar 29 05:59:23 dusky sshd[20878]: [ID 800047 auth.info] Failed keyboard-interactive", "dusky 20878", "Failed keyboard-interactive"],
    ["2015-04-16T18:02:50.321974+00:00 host sshd[2716]: pam_unix(sshd:auth): x", "host 2716", "pam_unix(sshd:auth): x"],
    ["Jun 25 23:53:34 [sshd] User root from 1.2.3.4", " ", "User root from 1.2.3.4"],
    ["srv sshd-session[77]: Invalid user a from 192.0.2.1", "srv 77", "Invalid user a from 192.0.2.1"],
    ['<38>1 2019-07-08T17:40:17.95-04:00 h.example.com sshd 55555 - [a b="]"][c d="[x]"] Failed unknown', "h.example.com 55555", "Failed unknown"],
  ])("%s", (line, session, content) => {
    expect(splitSession(line)).toEqual({ session, content });
  });

  it("ignores lines of other daemons", () => {
    expect(splitSession("Nov 23 21:50:19 host nginx[1]: Failed password for root from 203.0.113.7 port 1 ssh2")).toBeUndefined();
  });

  it("a pending failure without an address is a failure once the session names one, in another session it is not", () => {
    const f = compileFilter("sshd", []);
    expect(f("Nov 23 21:50:19 h sshd[9]: Disconnecting: Too many authentication failures for root [preauth]")).toBeUndefined();
    expect(f("Nov 23 21:50:37 h sshd[8]: Connection closed by 203.0.113.5 [preauth]")).toBeUndefined();
    expect(f("Nov 23 21:50:37 h sshd[9]: Connection closed by 203.0.113.6 [preauth]")).toBe("203.0.113.6");
  });

  it("a successful login forgets one user's failed attempts, not those of an attacker trying several users", () => {
    const f = compileFilter("sshd", []);
    const pam = (pid: number, user: string) => `Mar  7 18:53:20 h sshd[${pid}]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser=${user} rhost=203.0.113.9`;
    expect(f(pam(1, "alice"))).toBeUndefined();
    expect(f("Mar  7 18:53:21 h sshd[1]: Accepted password for alice from 203.0.113.9 port 1 ssh2")).toBeUndefined();
    expect(f(pam(2, "root"))).toBeUndefined();
    expect(f(pam(2, "admin"))).toBe("203.0.113.9");
    expect(f("Mar  7 18:53:24 h sshd[2]: Accepted password for alice from 203.0.113.9 port 1 ssh2")).toBe("203.0.113.9");
  });

  it("forgets sessions after five minutes", () => {
    let now = 0;
    const s = sshdFilter({ now: () => now });
    expect(s("h sshd[5]: Disconnecting: Too many authentication failures [preauth]")).toBeUndefined();
    now = 6 * 60_000;
    expect(s("h sshd[5]: Connection closed by 203.0.113.4 [preauth]")).toBeUndefined();
    now = 0;
    expect(s("h sshd[6]: Disconnecting: Too many authentication failures [preauth]")).toBeUndefined();
    expect(s("h sshd[6]: Connection closed by 203.0.113.4 [preauth]")).toEqual({ host: "203.0.113.4" });
  });

});
