import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { dateFinder, dateTemplate, dateTemplates, type DateTemplate } from "./date.js";

const LOGS = "/usr/lib/python3/dist-packages/fail2ban/tests/files/logs";

/**
 * What a found stamp must be: the span and fields a template's own regex (every field a named
 * group) gives at the place it was found. The finder searches with a copy of the regex whose only
 * group is the stamp, and runs the template's regex for the fields only when they are read.
 */
function reference(t: DateTemplate, line: string, start: number): Record<string, string | undefined> {
  for (let from = 0; from <= start; from++) {
    t.re.lastIndex = 0;
    const m = t.re.exec(from ? line.slice(from) : line);
    if (!m) continue;
    const span = m.indices?.groups?._date;
    const date = m.groups?._date ?? m[0];
    const end = from + (span ? span[1] : m.index + m[0].length);
    if ((span ? from + span[0] : end - date.length) === start) return { ...m.groups };
  }
  throw new Error(`no match of ${t.re.source} at ${start} in ${line}`);
}

describe("dateFinder: the stamp's span from a regex whose only group is the stamp, its fields from the template's", () => {
  it.each([
    ["syslog", "Dec  6 07:03:11 web-01 sshd[1]: x", undefined, 0, 15],
    ["ISO with zone", "2026-12-06T07:03:11.123+01:00 host x", undefined, 0, 29],
    ["nginx's error log", "2026/04/12 09:30:00 [error] 1#1: *2 limiting requests", "{^LN-BEG}", 0, 19],
    ["a stamp inside the line", "[client 203.0.113.7] 12/Apr/2026:09:30:00 +0000 x", undefined, 21, 47],
    ["a datepattern with a prefix group", "auth: at 2026-04-12 09:30:00 failed", "^auth: at (%Y-%m-%d %H:%M:%S)", 9, 28],
    ["EPOCH", "1700000000.123 x", "EPOCH", 0, 14],
  ])("%s", (_, line, pattern, start, end) => {
    const found = dateFinder(dateTemplates(pattern) as DateTemplate[])(line);
    expect(found && [found.start, found.end]).toEqual([start, end]);
  });

  it("gives every stamp of fail2ban's test logs the span and fields of its template's own regex", () => {
    const lines = readdirSync(LOGS)
      .filter((f) => statSync(join(LOGS, f)).isFile())
      .flatMap((f) => readFileSync(join(LOGS, f), "utf8").split("\n").filter((l) => l && !l.startsWith("#")));
    expect(lines.length).toBeGreaterThan(1000);
    const templates = dateTemplates(undefined) as DateTemplate[];
    const find = dateFinder(templates);
    let found = 0;
    for (const line of lines) {
      const d = find(line);
      if (!d) continue;
      found++;
      // the template that found it: the first whose own regex gives these fields at this place
      const fields = { ...d.groups };
      const matching = templates.filter((t) => {
        try {
          return JSON.stringify(reference(t, line, d.start)) === JSON.stringify(fields);
        } catch {
          return false;
        }
      });
      expect(matching.length, line).toBeGreaterThan(0);
      expect(fields._date, line).toBe(line.slice(d.start, d.end));
    }
    expect(found).toBeGreaterThan(lines.length / 2);
  });

  it("finds the stamp's group among other groups, plain ones after it included", () => {
    const t = dateTemplate("at (%H:%M:%S) (\\w+)");
    const found = dateFinder([t])("x at 12:34:56 zone rest");
    expect(found && [found.start, found.end, found.groups.H, found.groups._date]).toEqual([5, 13, "12", "12:34:56"]);
  });
});
