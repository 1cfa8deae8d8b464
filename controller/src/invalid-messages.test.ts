import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { InvalidMessages } from "./invalid-messages.js";

const logged = () => {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
};

describe("InvalidMessages", () => {
  it("counts every drop by kind, logs one line per reason per interval and then the count of the rest", () => {
    const { log, lines } = logged();
    let t = 0;
    const m = new InvalidMessages(log, () => t, 10_000);
    for (let i = 0; i < 5; i++) m.drop("signal", "bad signature");
    m.drop("signal", "too big");
    m.drop("report", "host id does not match subject");
    expect(m.counts).toEqual({ signal: 6, report: 1 });
    expect(lines.map((l) => [l.msg, l.kind, l.reason])).toEqual([
      ["invalid message dropped", "signal", "bad signature"],
      ["invalid message dropped", "signal", "too big"],
      ["invalid message dropped", "report", "host id does not match subject"],
    ]);
    t = 9_999;
    m.flush();
    expect(lines).toHaveLength(3);
    t = 10_000;
    m.flush();
    // only the reason with lines held back is logged, with how many
    expect(lines.slice(3).map((l) => [l.msg, l.key, l.suppressed])).toEqual([["invalid messages dropped, not logged one by one", "signal: bad signature", 4]]);
    // the interval is over: the next drop of that reason is logged again
    m.drop("signal", "bad signature");
    expect(lines.at(-1)).toMatchObject({ msg: "invalid message dropped", reason: "bad signature" });
    expect(m.counts.signal).toBe(7);
  });
});
