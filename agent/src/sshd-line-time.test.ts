import { describe, expect, it } from "vitest";
import { sshdFilter } from "./sshd-filter.js";
import { lineTimeMs } from "./sshd-line-time.js";

describe("lineTimeMs", () => {
  it.each([
    ["Dec  6 01:00:00 h sshd[1]: x", Date.UTC(2000, 11, 6, 1, 0, 0)],
    ["<38>Dec 16 01:00:00 h sshd[1]: x", Date.UTC(2000, 11, 16, 1, 0, 0)],
    ["Mar  7 18:53:21.250 h sshd[1]: x", Date.UTC(2000, 2, 7, 18, 53, 21, 250)],
    ["2026-12-06T01:00:00.5+01:00 h sshd[1]: x", Date.UTC(2026, 11, 6, 0, 0, 0, 500)],
    ["<38>1 2019-07-08T17:40:17.95-04:00 h sshd 5 - - x", Date.UTC(2019, 6, 8, 21, 40, 17, 950)],
    ["h sshd[1]: no time", undefined],
    ["Foo  6 01:00:00 h", undefined],
    ["Decx 6 01:00:00 h", undefined],
    ["Dec  6 01:00:00.1 2 h", Date.UTC(2000, 11, 6, 1, 0, 0, 100)],
  ])("%s", (line, want) => expect(lineTimeMs(line)).toBe(want));
});

describe("lineTimeMs by character codes reads what the regexes read", () => {
  const BSD = /^(?:<\d+>)?([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?/;
  const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
  /** The regex alone, as lineTimeMs read BSD stamps before its fast path. */
  const byRegex = (line: string) => {
    const b = BSD.exec(line);
    if (!b) return "not BSD";
    const month = MONTHS.indexOf((b[1] as string).toLowerCase());
    if (month < 0) return undefined;
    return Date.UTC(2000, month, Number(b[2]), Number(b[3]), Number(b[4]), Number(b[5]), Number(((b[6] ?? "") + "000").slice(0, 3)));
  };
  it("on random stamps and near-stamps", () => {
    let seed = 5;
    const r = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const pick = (s: string) => s[Math.floor(r() * s.length)] as string;
    const parts = ["Dec", "Jan", "Foo", "DEC", "dec", " ", "  ", "6", "16", "123", " ", "01", ":", "00", ":", "59", ".", "5", "1 2", "123456789", "a", "<38>", " h sshd[1]: x"];
    for (let k = 0; k < 20_000; k++) {
      const line = k % 2
        ? `${pick("DJFx")}${pick("eaoX")}${pick("cnoX")}${" ".repeat(1 + Math.floor(r() * 2))}${Math.floor(r() * 40)} ${pick("0123")}${pick("0129:")}:${pick("05")}${pick("09")}:${pick("05")}${pick("09a")}${r() < 0.5 ? `.${String(Math.floor(r() * 1e6)).slice(0, 1 + Math.floor(r() * 7))}${pick(" x9")}` : ""} h`
        : Array.from({ length: 1 + Math.floor(r() * 8) }, () => parts[Math.floor(r() * parts.length)]).join("");
      const want = byRegex(line);
      if (want !== "not BSD") expect(lineTimeMs(line), line).toBe(want);
    }
  });
});

describe("sshd sessions expire by log time", () => {
  const A = "203.0.113.7";
  // the clock never moves: only the lines' own times can expire a session (as in `jail test`)
  const run = (later: string) => {
    const f = sshdFilter({ now: () => 0 });
    const hits = [
      `Dec  6 01:00:00 h sshd[77]: Failed password for root from ${A} port 1 ssh2`,
      `Dec  6 01:00:01 h sshd[77]: Failed password for admin from ${A} port 1 ssh2`,
      `${later} h sshd[77]: Accepted password for alice from ${A} port 2 ssh2`,
    ].map((l) => f(l)?.host);
    return hits;
  };

  it.each([
    // pid 77 reused by the same address two hours later: a new session, the login is a success
    ["Dec  6 03:00:01", [A, A, undefined]],
    ["Dec  6 01:06:02", [A, A, undefined]],
    // within five minutes it is the same session, which tried two user names: a failure, as fail2ban counts it
    ["Dec  6 01:04:00", [A, A, A]],
  ])("a login on the same pid at %s", (later, want) => expect(run(later)).toEqual(want));

  it("a pending failure is not given to an address that shows up on the pid hours later", () => {
    const f = sshdFilter({ now: () => 0 });
    expect(f("Dec  6 01:00:00 h sshd[5]: Disconnecting: Too many authentication failures [preauth]")).toBeUndefined();
    expect(f("Dec  6 03:00:00 h sshd[5]: Connection closed by 203.0.113.4 [preauth]")).toBeUndefined();
    expect(f("Dec  6 03:00:01 h sshd[6]: Disconnecting: Too many authentication failures [preauth]")).toBeUndefined();
    expect(f("Dec  6 03:00:02 h sshd[6]: Connection closed by 203.0.113.4 [preauth]")).toEqual({ host: "203.0.113.4" });
  });
});
