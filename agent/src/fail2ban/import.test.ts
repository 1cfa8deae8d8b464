import fc from "fast-check";
import { FirewallPolicy } from "@fleetwall/api";
import { describe, expect, it } from "vitest";
import { compileFilter } from "../filters.js";
import { Config, parseIni, substituteTags } from "./config.js";
import { compileFail2ban } from "./engine.js";
import { parseFilterSpec, readFilter } from "./filter-reader.js";
import { fail2banSeconds, importFail2ban } from "./jail-reader.js";
import { fail2banBanTimes, fleetwallBanTimes } from "./jail-settings.js";
import { escalatedSeconds } from "@fleetwall/api";
import { compile } from "@fleetwall/controller";
import { render } from "../render.js";
import { fail2banManifests } from "./manifests.js";
import { requiredLiterals } from "./literals.js";
import { rewriteNotStarting } from "./lookahead-rewrite.js";
import { translateRegex, unrollCounted } from "./regex.js";

/** A fail2ban configuration in memory: path → text. */
const files = (tree: Record<string, string>) => ({
  read: (p: string) => tree[p],
  list: (d: string) => Object.keys(tree).filter((p) => p.startsWith(`${d}/`)).map((p) => p.slice(d.length + 1)),
});

describe("fail2ban's configuration files", () => {
  it("parses sections, continuation lines, comments and inline ';' comments as ConfigParser does", () => {
    const s = parseIni("[Definition]\n# comment\nfailregex = ^a <HOST>$\n            ^b <HOST>$ ; inline\n\n  ^c <HOST>$\nKey: v\n");
    expect(s.get("Definition")?.get("failregex")).toBe("^a <HOST>$\n^b <HOST>$\n\n^c <HOST>$");
    expect(s.get("Definition")?.get("key")).toBe("v");
  });

  it("reads .local over .conf, includes before/after, %(var)s, known/ and section/option", () => {
    const { read } = files({
      "/f/filter.d/common.conf": "[DEFAULT]\n_daemon = \\S*\n__prefix_line = <lt_<logtype>/p>\nlogtype = file\n[lt_file]\np = F:%(_daemon)s\n[lt_journal]\np = J:%(_daemon)s\n",
      "/f/filter.d/x.conf": "[INCLUDES]\nbefore = common.conf\n[DEFAULT]\n_daemon = xd\n[Definition]\nfailregex = ^%(__prefix_line)s<mode-<mode>> <HOST>$\nmode = one\nmode-one = ONE\nmode-two = TWO\n",
      "/f/filter.d/x.local": "[Definition]\nfailregex = %(known/failregex)s\n            ^local <HOST>$\n",
    });
    expect(readFilter(read, "/f", "x").failregex).toEqual(["^F:xdONE <HOST>$", "^local <HOST>$"]);
    expect(readFilter(read, "/f", "x", { mode: "two", logtype: "journal" }).failregex[0]).toBe("^J:xdTWO <HOST>$");
  });

  it("refuses tags that refer to themselves instead of looping", () => {
    expect(() => substituteTags("<a>", (t) => (t === "a" ? "<a>" : undefined))).toThrow(/do not resolve/);
    const cfg = new Config(() => "[Definition]\na = %(b)s\nb = %(a)s\n");
    cfg.loadFile("/x.conf", []);
    expect(() => cfg.get("Definition", "a")).toThrow(/deeper than 10/);
  });

  it.each([
    ["sshd[mode=aggressive]", { name: "sshd", options: { mode: "aggressive" } }],
    ['postfix[mode=more, a="x, y"]', { name: "postfix", options: { mode: "more", a: "x, y" } }],
    ["nginx-limit-req", { name: "nginx-limit-req", options: {} }],
  ])("filter spec %s", (spec, want) => expect(parseFilterSpec(spec)).toEqual(want));

  it.each([
    ["600", 600],
    ["10m", 600],
    ["1h30m", 5400],
    ["1d", 86400],
    ["-1", -1],
    ["soon", undefined],
  ])("fail2ban time %s = %s s", (t, s) => expect(fail2banSeconds(t)).toBe(s));
});

describe("Python regexes for V8's linear-time engine", () => {
  it.each([
    ["(?P<user>\\S+) from <HOST>", "(?<user>\\S+) from "],
    ["^\\[[^]]+\\] x <ADDR>", "^\\[[^\\]]+\\] x "],
    ["\\Afoo <HOST>\\Z", "^foo "],
    ["a{,3} <HOST>", "a{0,3} "],
  ])("%s", (py, js) => expect(translateRegex(py).source.startsWith(js)).toBe(true));

  it("(?i) is written case by case (V8's linear engine has no ignore-case), scoped or global", () => {
    const t = translateRegex("SASL ((?i)LOGIN|PLAIN) failed <HOST>");
    expect(new RegExp(t.source, t.flags).exec("SASL login failed 1.2.3.4")?.groups?.ip4).toBe("1.2.3.4");
    expect(new RegExp(t.source, t.flags).test("sasl login failed 1.2.3.4")).toBe(false);
    const g = translateRegex("(?i)user x from <HOST>");
    expect(new RegExp(g.source, g.flags).exec("USER X FROM 1.2.3.4")?.groups?.ip4).toBe("1.2.3.4");
  });

  it("writes out counted repetitions the linear engine refuses", () => {
    expect(unrollCounted("\\w{2,4}x")).toBe("\\w\\w\\w?\\w?x");
    expect(() => translateRegex(".{0,256} <HOST>")).not.toThrow();
  });

  it.each([
    ["(?:(?!a).)* <HOST>", /repeated group/],
    ["(?x) a <HOST>", /verbose/],
    ["(?s:a) <HOST>", /scoped flag/],
  ])("refuses %s with the reason", (re, why) => expect(() => translateRegex(re)).toThrow(why));

  it("a lookahead, a backreference and a conditional become checks that never accept what the original refuses", () => {
    const m = compileFail2ban({ failRegex: ["^(?!bad)(?P<w>\\w+) (?P=w) <HOST>$", "^(?:(?P<x>x) )?(?(x)y|z) <HOST>$"], datePattern: "{NONE}" });
    expect(m("good good 203.0.113.1")?.host).toBe("203.0.113.1");
    expect(m("bad bad 203.0.113.2")).toBeUndefined();
    expect(m("good evil 203.0.113.3")).toBeUndefined();
    expect(m("x y 203.0.113.4")?.host).toBe("203.0.113.4");
    expect(m("x z 203.0.113.5")).toBeUndefined();
    expect(m("z 203.0.113.6")?.host).toBe("203.0.113.6");
  });

  it.each([
    ["^\\[\\]LOGIN FAILED for user: x", ["LOGIN FAILED for user: x"]],
    ["^\\S+ (?:NOQUEUE: reject:|improper command pipelining after \\S+) (?<content>.+)$", ["improper command pipelining after ", "NOQUEUE: reject:"]],
    ["^(?:abc)? xyz", [" xyz"]],
    ["^abcd|efgh", ["abcd", "efgh"]],
    ["^ab|efgh", []],
    ["(?:foo(?:bar|bazz)) q", ["foo"]],
  ])("literals every match of %s contains", (re, want) => expect(requiredLiterals(re).sort()).toEqual(want.sort()));

  it("a backreference to a few literals is written out, one alternative each (no check, nothing missed)", () => {
    const m = compileFail2ban({ failRegex: ['^acct=(?P<q>"?)\\S+(?P=q) addr=<HOST>$'], datePattern: "{NONE}" });
    expect(m('acct="?" addr=203.0.113.1')?.host).toBe("203.0.113.1");
    expect(m("acct=bob addr=203.0.113.2")?.host).toBe("203.0.113.2");
    const pair = compileFail2ban({ failRegex: ["^(?P<q>a|b)-(?P=q) <HOST>$"], datePattern: "{NONE}" });
    expect(pair("b-b 203.0.113.3")?.host).toBe("203.0.113.3");
    expect(pair("a-b 203.0.113.4")).toBeUndefined();
  });

  it("(?!word=) inside a repetition is rewritten exactly: the word before '=' is any but that one", () => {
    const m = compileFail2ban({ failRegex: ["^LOGIN FAILED, (?:(?!ip=)(?:user=<F-USER>[^,]*</F-USER>|\\w+=[^,]*), )*ip=\\[<HOST>\\]"], datePattern: "{NONE}" });
    expect(m("LOGIN FAILED, user=bob, method=PLAIN, ip=[203.0.113.1]")?.host).toBe("203.0.113.1");
    expect(m("LOGIN FAILED, ipx=1, i=2, ip=[203.0.113.2]")?.host).toBe("203.0.113.2");
    // the repetition may not pass over the first ip=: the first address is the one found
    expect(m("LOGIN FAILED, ip=[203.0.113.3], x=1, ip=[203.0.113.4]")?.host).toBe("203.0.113.3");
    fc.assert(
      fc.property(fc.array(fc.constantFrom("ip", "i", "ipx", "xip", "p", "user"), { maxLength: 6 }), (keys) => {
        const line = `LOGIN FAILED, ${keys.map((k, i) => `${k}=${i}, `).join("")}ip=[203.0.113.9]`;
        // what Python's regex finds: the iterations stop before the first "ip=" key
        expect(m(line)?.host).toBe(keys.includes("ip") ? undefined : "203.0.113.9");
      }),
    );
  });

  it.each([
    ["^(?!err)\\S+=x$", "err"],
    ["^(?!error|info)[\\w-]+$", "error|info"],
    ["^a (?!ab|b)\\w+ z$", "ab|b"],
  ])("property: the rewrite of %s says what the lookahead says", (re, words) => {
    const open = re.indexOf("(?!");
    const close = open + 3 + words.length;
    const rewritten = rewriteNotStarting(re, open, close) as string;
    expect(rewritten).not.toContain("(?!");
    expect(() => new RegExp(rewritten, "l")).not.toThrow();
    const original = new RegExp(re);
    const ours = new RegExp(rewritten);
    fc.assert(
      fc.property(fc.array(fc.constantFrom("e", "r", "o", "i", "n", "f", "a", "b", "-", "=", "x", " ", "z"), { maxLength: 9 }), fc.constantFrom("", "a ", "err", "info"), (chars, head) => {
        const text = head + chars.join("");
        expect(ours.test(text), text).toBe(original.test(text));
      }),
      { numRuns: 2000 },
    );
  });

  it("property: an imported regex costs linear time on hostile lines", () => {
    // backtracking regexes that explode on these lines; V8 moves them to its linear engine
    const m = compileFail2ban({ failRegex: ["^(a+)+c <HOST>", "^(?:\\w+\\s?)*x <HOST>"], datePattern: "{NONE}" });
    fc.assert(
      fc.property(fc.integer({ min: 20_000, max: 60_000 }), (n) => {
        expect(m("a".repeat(n))).toBeUndefined();
        expect(m(`${"ab ".repeat(n / 3)}!`)).toBeUndefined();
      }),
      { numRuns: 3 },
    );
  });
});

describe("imported jails", () => {
  const base = {
    "/e/jail.conf": "[INCLUDES]\nbefore = paths.conf\n[DEFAULT]\nignoreip = 127.0.0.1/8 ::1 monitor.example\nbantime = 10m\nfindtime = 10m\nmaxretry = 5\nbackend = auto\nfilter = %(__name__)s[mode=%(mode)s]\nmode = normal\n[sshd]\nlogpath = %(sshd_log)s\n[svc]\nlogpath = /var/log/svc.log\n[web]\nlogpath = /var/log/nginx/*error.log\n",
    "/e/paths.conf": "[DEFAULT]\nsshd_log = /var/log/auth.log\n",
    "/e/jail.d/a.conf": "[sshd]\nenabled = true\n",
    "/e/jail.local": "[sshd]\nmode = aggressive\nmaxretry = 3\nbantime.increment = true\nbantime.maxtime = 1w\n[svc]\nenabled = true\nbantime = -1\n[web]\nenabled = true\n",
    "/e/filter.d/svc.conf": "[Definition]\nfailregex = ^\\s*svc: bad login from <HOST>$\n            ^svc: (?P<a>x)(?P=a)* <HOST>$\ndatepattern = {^LN-BEG}\n",
    "/e/filter.d/web.conf": "[Definition]\nfailregex = ^web <HOST>\n",
  };

  it("imports enabled jails in fail2ban's file order, with what it left out and why", () => {
    const { read, list } = files(base);
    const imp = importFail2ban(read, list, "/e");
    expect(imp.allow).toEqual(["127.0.0.0/8", "::1"]);
    expect(imp.jails.map((j) => j.name)).toEqual(["sshd", "svc", "web"]);
    expect(imp.jails[2]).toMatchObject({ source: { file: "/var/log/nginx/*error.log" } });
    expect(imp.jails[0]).toMatchObject({ filter: "sshd-aggressive", source: { file: "/var/log/auth.log" }, maxRetry: 3, banTimeIncrement: { factor: 2, max: "7d" } });
    expect(imp.jails[1]).toMatchObject({ failRegex: ["^\\s*svc: bad login from <HOST>$"], datePattern: "{^LN-BEG}", banTime: "28d", source: { file: "/var/log/svc.log" } });
    const why = imp.notes.map((n) => `${n.jail}: ${n.what}: ${n.why}`).join("\n");
    expect(why).toMatch(/ignoreip monitor\.example: a host name/);
    expect(why).toMatch(/ignoreip 127\.0\.0\.1\/8: written as 127\.0\.0\.0\/8/);
    expect(why).toMatch(/svc: failregex \^svc: \(\?P<a>x\).*repeated group/);
    expect(why).toMatch(/svc: bantime -1: a permanent ban/);
    expect(why).not.toMatch(/logpath/);
  });

  it("writes manifests the API accepts, whose jails run on the agent", () => {
    const { read, list } = files(base);
    const [policy] = fail2banManifests(importFail2ban(read, list, "/e"), { name: "f2b", matchLabels: {} });
    const p = FirewallPolicy.parse(policy);
    expect(p.spec.defaultInput).toBe("Accept");
    // it filters nothing: no baseline drop (invalid, new-not-SYN, XMAS/NULL, loopback spoofing), no reject
    const host = compile([p], [{ id: "h", labels: {} }]).hosts.get("h");
    const script = host ? render(host.ruleset, { sshPorts: [22], sshSources: { ip: [], ip6: [] }, nats: [], dhcp: false }).script : "";
    expect(script).toMatch(/chain input \{[^}]*policy accept;/);
    expect(script).not.toMatch(/\b(drop|reject)\b|baseline\/(loopback|invalid|tcp)/);
    // and accepts nothing of its own: its chains are empty (docs/detection.md says what render shows)
    expect(script).toMatch(/chain in_f2b \{\s*\}/);
    expect(script).not.toMatch(/f2b\/icmp/);
    const svc = p.spec.jails.find((j) => j.name === "svc");
    const match = compileFilter(svc);
    expect(match("Dec  6 01:00:00 svc: bad login from 203.0.113.9")).toBe("203.0.113.9");
    expect(match("Dec  6 01:00:00 svc: good login from 203.0.113.9")).toBeUndefined();
  });

  const imported = (extra: Record<string, string>) => {
    const { read, list } = files({ ...base, ...extra });
    const imp = importFail2ban(read, list, "/e");
    return { imp, why: imp.notes.map((n) => `${n.jail}: ${n.what}: ${n.why}`).join("\n") };
  };

  it("a jail's ignoreip replaces [DEFAULT]'s: only what every jail ignores is fleet-wide", () => {
    const { imp, why } = imported({ "/e/jail.d/b.local": "[svc]\nignoreip = 127.0.0.1/8 198.18.0.9 other.example\n" });
    expect(imp.allow).toEqual(["127.0.0.0/8"]);
    expect(imp.jails.map((j) => [j.name, j.ignore])).toEqual([["sshd", ["::1"]], ["svc", ["198.18.0.9"]], ["web", ["::1"]]]);
    expect(why).toMatch(/DEFAULT: ignoreip: addresses every imported jail ignores are a fleet-wide Allow BanList/);
    expect(why.match(/monitor\.example/g)).toHaveLength(1); // told once, not once per jail
    expect(why.match(/other\.example/g)).toHaveLength(1);
  });

  it("says where a jail's own ignoreip drops [DEFAULT]'s addresses, and labels each note by kind", () => {
    const { imp } = imported({ "/e/jail.d/b.local": "[svc]\nignoreip = 127.0.0.1/8 198.18.0.9\n" });
    const line = (n: (typeof imp.notes)[number]) => `${n.kind ?? "not imported"}: ${n.jail}: ${n.what}: ${n.why}`;
    const lines = imp.notes.map(line).join("\n");
    expect(lines).toMatch(/^note: svc: ignoreip: the jail's own ignoreip replaces \[DEFAULT\]'s, as in fail2ban: this jail does not ignore ::1$/m);
    expect(lines).toMatch(/^converted: DEFAULT: ignoreip: addresses every imported jail ignores are a fleet-wide Allow BanList/m);
    expect(lines).toMatch(/^converted: [^:]*: ignoreip 127\.0\.0\.1\/8: written as 127\.0\.0\.0\/8/m);
    expect(lines).toMatch(/^not imported: DEFAULT: ignoreip monitor\.example: a host name/m);
    // a jail whose own ignoreip holds all of [DEFAULT]'s drops nothing: no note
    const same = imported({ "/e/jail.d/b.local": "[svc]\nignoreip = 127.0.0.1/8 ::1 198.18.0.9\n" });
    expect(same.imp.notes.map(line).join("\n")).not.toMatch(/replaces \[DEFAULT\]'s/);
  });

  it("reports every setting that changes fail2ban's behaviour and is not taken over, once per value", () => {
    const { why } = imported({
      "/e/jail.d/c.local": "[DEFAULT]\nusedns = warn\nbantime.rndtime = 30\nbantime.overalljails = true\nignoreself = false\nignorecommand = /bin/check <ip>\nport = ssh\n[svc]\nport = 0:65535\nusedns = no\n",
    });
    expect(why).toMatch(/^sshd, web: usedns warn: fleetwall never resolves/m);
    expect(why).toMatch(/^sshd, svc, web: bantime\.rndtime 30: .*random/m);
    expect(why).toMatch(/^sshd, svc, web: bantime\.overalljails true: /m);
    expect(why).toMatch(/^sshd, svc, web: ignoreself false: /m);
    expect(why).toMatch(/^sshd, svc, web: ignorecommand \/bin\/check <ip>: /m);
    expect(why).toMatch(/^sshd, web: port: .*ports only/m);
  });

  it("a [DEFAULT] setting every jail inherits is told once, naming the jails", () => {
    const { why } = imported({ "/e/jail.d/d.local": "[DEFAULT]\nbantime.increment = true\nbantime.factor = 2\n" });
    expect(why.match(/bantime\.increment: fail2ban also counts/g)).toHaveLength(1);
    expect(why).toMatch(/^sshd, svc, web: bantime\.increment: /m);
    // same numbers, one note; svc bans 28d (bantime -1), so its numbers differ
    expect(why).toMatch(/^sshd, web: bantime\.factor 2: .*fail2ban bans 10m, 40m, 80m, 160m, 320m/m);
    expect(why).toMatch(/^svc: bantime\.factor 2: /m);
    expect(why).toMatch(/^svc, web: bantime\.maxtime \(unset\)/m);
  });

  it("a regex that cannot be translated is shown whole in the report", () => {
    const long = `^svc: (?P<a>x)(?P=a)* ${"y".repeat(300)} <HOST>$`;
    const { why } = imported({ "/e/filter.d/svc.local": `[Definition]\nfailregex = ^svc: ok <HOST>$\n            ${long}\n` });
    expect(why).toContain(`failregex ${long}: `);
  });

  it("recidive is left out, with banTimeIncrement suggested", () => {
    const { imp, why } = imported({ "/e/jail.d/r.local": "[recidive]\nenabled = true\nlogpath = /var/log/fail2ban.log\n", "/e/filter.d/recidive.conf": "[Definition]\nfailregex = ^Ban <HOST>$\n" });
    expect(imp.jails.map((j) => j.name)).not.toContain("recidive");
    expect(why).toMatch(/recidive: jail: recidive reads fail2ban's own log.*banTimeIncrement/);
  });

  // fail2ban: bantime, then bantime·factor·2^n for the n-th repeat (default formula); fleetwall: ×factor per repeat
  it.each([
    { f2bFactor: "1", f2b: [600, 1200, 2400, 4800, 9600], fw: [600, 1200, 2400, 4800, 9600], note: "" },
    { f2bFactor: "2", f2b: [600, 2400, 4800, 9600, 19200], fw: [600, 1200, 2400, 4800, 9600], note: "fail2ban bans 10m, 40m, 80m, 160m, 320m, fleetwall 10m, 20m, 40m, 80m, 160m: every repeat is 2× shorter" },
    { f2bFactor: "3", f2b: [600, 3600, 7200, 14400, 28800], fw: [600, 1200, 2400, 4800, 9600], note: "fail2ban bans 10m, 1h, 2h, 4h, 8h, fleetwall 10m, 20m, 40m, 80m, 160m: every repeat is 3× shorter" },
  ])("bantime.factor $f2bFactor: the first 5 ban times of fail2ban and of the import", ({ f2bFactor, f2b, fw, note }) => {
    const { imp, why } = imported({ "/e/jail.d/t.local": `[sshd]\nbantime = 10m\nbantime.factor = ${f2bFactor}\n` });
    const inc = imp.jails[0]?.banTimeIncrement;
    expect(inc).toEqual({ factor: 2, max: "7d" });
    expect(fail2banBanTimes(600, Number(f2bFactor), 7 * 86400, 5)).toEqual(f2b);
    // what the agent bans: api's one escalation formula with the imported factor
    expect([1, 2, 3, 4, 5].map((n) => escalatedSeconds(600, inc, n, 7 * 86400))).toEqual(fw);
    expect(fleetwallBanTimes(600, 2, 7 * 86400, 5)).toEqual(fw);
    expect(/bantime\.factor/.test(why)).toBe(note !== "");
    expect(why).toContain(note);
  });
});
