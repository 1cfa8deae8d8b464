import { readdirSync, readFileSync, statSync } from "node:fs";
import { conformance, conformanceMarkdown, F2B_TESTS, type ConformanceTable } from "./conformance-report.js";

/**
 * Reads Debian's fail2ban package for the conformance table (the I/O side of ./conformance-report.ts).
 * Test-only filters (`zzz-*`, in the tests' own filter.d) include `../../../../config/filter.d/…`,
 * fail2ban's source tree, which the package installs as /etc/fail2ban/filter.d.
 */
export function conformanceFromPackage(): ConformanceTable & { markdown: string } {
  const read = (p: string) => {
    const path = p.includes("/config/filter.d/") && p.includes("/../") ? p.replace(/^.*\/config\/filter\.d\//, "/etc/fail2ban/filter.d/") : p;
    try {
      return readFileSync(path, "utf8");
    } catch {
      return undefined;
    }
  };
  const dir = `${F2B_TESTS}/files/logs`;
  const logs = readdirSync(dir).filter((f) => statSync(`${dir}/${f}`).isFile()).sort();
  const table = conformance(read, logs, (f) => (f.startsWith("zzz-") ? `${F2B_TESTS}/config` : "/etc/fail2ban"));
  return { ...table, markdown: conformanceMarkdown(table) };
}
