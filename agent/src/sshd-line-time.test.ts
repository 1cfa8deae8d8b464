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
  ])("%s", (line, want) => expect(lineTimeMs(line)).toBe(want));
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
