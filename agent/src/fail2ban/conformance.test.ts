import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { F2B_TESTS } from "./conformance-report.js";
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
    expect(t.agreeing).toBeGreaterThanOrEqual(85);
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
