import { describe, expect, it } from "vitest";
import { dateFinder, dateTemplates, type DateTemplate } from "./fail2ban/date.js";
import { failureTime, lineTimeMs, timedMatcher } from "./jail-time.js";

const find = dateFinder(dateTemplates(undefined) as DateTemplate[]);
/** The epoch ms of a line's stamp read at `now`. */
const timeOf = (line: string, now: number) => lineTimeMs(find(line)!, now);
/** Local time, as the host's logs write it. */
const local = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => new Date(y, mo - 1, d, h, mi, s).getTime();
const FIND = 600;

describe("failureTime: fail2ban's rule for live detection", () => {
  const now = local(2026, 12, 6, 5, 0, 0);
  it.each([
    ["no time in the line: arrival", undefined, { tooOld: false, atMs: now }],
    ["within the window: its log time", now - 599_000, { tooOld: false, atMs: now - 599_000 }],
    ["exactly findTime ago: still in", now - 600_000, { tooOld: false, atMs: now - 600_000 }],
    ["older than findTime: not counted", now - 601_000, { tooOld: true, lineMs: now - 601_000 }],
    ["2015: not counted", local(2015, 1, 20), { tooOld: true, lineMs: local(2015, 1, 20) }],
    ["in the future: now", now + 3_600_000, { tooOld: false, atMs: now }],
  ])("%s", (_, lineMs, want) => {
    expect(failureTime(lineMs, now, FIND)).toEqual(want);
  });
});

describe("lineTimeMs: years inferred, zones honoured", () => {
  it.each([
    ["a December line read on 2 January is last December's", "Dec 31 23:59:00 h sshd[1]: x", local(2027, 1, 2, 0, 5), local(2026, 12, 31, 23, 59)],
    ["a January line read on 31 December is this year's January (11 months old)", "Jan  2 00:00:00 h sshd[1]: x", local(2026, 12, 31, 12), local(2026, 1, 2)],
    ["a line of a minute ahead stays this year's", "Dec  6 05:01:00 h sshd[1]: x", local(2026, 12, 6, 5, 0), local(2026, 12, 6, 5, 1)],
    ["a line of today is today's", "Dec  6 04:55:00 h sshd[1]: x", local(2026, 12, 6, 5, 0), local(2026, 12, 6, 4, 55)],
    ["a line of tomorrow (the clock behind) stays this year's", "Dec  7 00:10:00 h sshd[1]: x", local(2026, 12, 6, 23, 59), local(2026, 12, 7, 0, 10)],
    ["a line of two days ahead is last year's", "Dec  9 00:00:00 h sshd[1]: x", local(2026, 12, 6, 5, 0), local(2025, 12, 9)],
    ["nginx's stamp has its year, in local time", "2015/01/20 00:00:00 [error] 1#0: *1 x", local(2026, 12, 6), local(2015, 1, 20)],
    ["a zone in the stamp wins over local time", "2026-12-06T01:00:00.250+01:00 h sshd[1]: x", local(2026, 12, 6), Date.UTC(2026, 11, 6, 0, 0, 0, 250)],
    ["UTC", "2015-01-20T10:00:00Z h sshd[1]: x", local(2026, 12, 6), Date.UTC(2015, 0, 20, 10)],
  ])("%s", (_, line, now, want) => {
    expect(timeOf(line, now)).toBe(want);
  });
});

describe("timedMatcher", () => {
  it("gives a built-in filter's matched line its stamp, and none to a journal line", () => {
    const line = "2015/01/20 00:00:00 [error] 7#7: *1 user \"bob\": password mismatch, client: 203.0.113.7, server: example, request: \"GET / HTTP/1.1\"";
    const m = timedMatcher({ filter: "nginx-http-auth" })(line);
    expect(m?.host).toBe("203.0.113.7");
    expect(lineTimeMs(m!.date!, local(2026, 12, 6))).toBe(local(2015, 1, 20));
    const j = timedMatcher({ filter: "sshd" }, { journal: true })("h sshd[1]: Failed password for root from 203.0.113.8 port 22 ssh2");
    expect(j).toEqual({ host: "203.0.113.8", date: undefined });
  });

  it("takes a built-in's stamp only where the line starts: a date in a user name is the client's, not the time", () => {
    const line = "sshd[1]: Failed password for invalid user 2015-01-20T00:00:00Z from 203.0.113.9 port 22 ssh2";
    expect(timedMatcher({ filter: "sshd" })(line)).toEqual({ host: "203.0.113.9", date: undefined });
  });

  it("gives an imported filter's match its stamp (nginx limit-req, 2015)", () => {
    const match = timedMatcher({ failRegex: ["^\\s*\\[[a-z]+\\] \\d+#\\d+: \\*\\d+ limiting requests, excess: [\\d\\.]+ by zone \"[^\"]+\", client: <HOST>,"], datePattern: "{^LN-BEG}" });
    const m = match('2015/01/20 00:00:00 [error] 256554#0: *99920 limiting requests, excess: 1.852 by zone "one", client: 203.0.113.9, server: example.com, request: "POST / HTTP/1.0"');
    expect(m?.host).toBe("203.0.113.9");
    const at = lineTimeMs(m!.date!, local(2026, 12, 6));
    expect(at).toBe(local(2015, 1, 20));
    expect(failureTime(at, local(2026, 12, 6), FIND).tooOld).toBe(true);
  });
});
