import { existsSync, readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { F2B_TESTS } from "./conformance-report.js";
import { compileFail2ban } from "./engine.js";
import { readFilter } from "./filter-reader.js";
import { translateRegex } from "./regex.js";
import { conformanceFromPackage } from "./conformance.test-support.js";

const DOC = new URL("../../../docs/fail2ban-conformance.md", import.meta.url);

describe("imported fail2ban filters against fail2ban's own annotated test logs", () => {
  it("has Debian's fail2ban test logs (scripts/setup.sh installs the package)", () => {
    expect(existsSync(`${F2B_TESTS}/files/logs/sshd`)).toBe(true);
  });

  const t = conformanceFromPackage();

  it("agrees on every annotated line of most logs", () => {
    // every log of the package is replayed, and the lines are fail2ban's annotations
    expect(t.logs).toBeGreaterThanOrEqual(90);
    expect(t.lines).toBeGreaterThan(1500);
    expect(t.agreeing).toBeGreaterThanOrEqual(90);
  });

  it("sshd's logs agree in every mode but for the deliberate difference", () => {
    for (const log of ["sshd", "sshd-journal"]) {
      const row = t.rows.find((r) => r.log === log);
      expect(row?.modes.length, log).toBeGreaterThanOrEqual(3);
      expect(row?.agreeing, `${log}: ${row?.reasons.join("; ")}`).toBe(row?.annotated);
    }
  });

  it("docs/fail2ban-conformance.md is what the code does (npx tsx scripts/fail2ban-conformance.ts)", () => {
    expect(readFileSync(DOC, "utf8")).toBe(t.markdown);
  });
});

describe("every filter Debian ships, on hostile lines", () => {
  const read = (p: string) => {
    try {
      return readFileSync(p, "utf8");
    } catch {
      return undefined;
    }
  };
  const names = readdirSync("/etc/fail2ban/filter.d").filter((f) => f.endsWith(".conf") && !f.endsWith("common.conf")).map((f) => f.slice(0, -5));
  const hostile = [
    `Dec  6 01:00:00 host postfix/smtpd[1]: ${"x from 1.2.3.4 port 22 ssh2: ".repeat(700)}`,
    `Dec  6 01:00:00 host sshd[1]: ${"[".repeat(20_000)}`,
    `Dec  6 01:00:00 host dovecot: ${"1.".repeat(10_000)}`,
    `${"a ".repeat(10_000)}!`,
    `2026/12/06 01:00:00 [error] 1#0: *1 ${"limiting requests, excess: ".repeat(700)}`,
    `Dec  6 01:00:00 host named[1]: client ${"@x ".repeat(5000)}`,
  ];

  // a filter that needed backtracking would not finish these lines within the test's timeout
  it.each(names)("%s costs linear time (or is refused)", (name) => {
    let spec;
    try {
      const f = readFilter(read, "/etc/fail2ban", name, {});
      spec = { ...(f.prefregex ? { prefRegex: f.prefregex } : {}), failRegex: f.failregex, ignoreRegex: f.ignoreregex, datePattern: f.datepattern ?? "{DEFAULT}", maxLines: f.maxlines };
      const match = compileFail2ban(spec);
      // the filter's own literals first, so the lines pass its pre-check and reach the regexes
      const words = [f.prefregex, ...f.failregex].flatMap((r) => (r ? translateRegex(r, { multiline: f.maxlines > 1 }).literals : [])).join(" ");
      for (const line of hostile) {
        match(line);
        match(`Dec  6 01:00:00 host ${name}[1]: ${words} ${line}`);
        match(`Dec  6 01:00:00 host ${name}[1]: ${line} ${words}`);
      }
    } catch (e) {
      expect((e as Error).name, `${name}: ${(e as Error).message}`).toMatch(/UntranslatableRegex|Fail2banConfigError/);
    }
  }, 20_000);
});
