import { describe, expect, it } from "vitest";
import { detachedCopy, scanBytes } from "./line-scan.js";

/** What scanLines must give: every line with its number, as split("\n") gives them. */
function bySplit(text: string, literals: string[]): { lines: number; seen: [string, number][] } {
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const seen = lines.map((l, i) => [l, i + 1] as [string, number]).filter(([l]) => !literals.length || literals.some((x) => l.includes(x)));
  return { lines: lines.length, seen };
}

function scanned(scan: (visit: (l: string, n: number) => void) => number): { lines: number; seen: [string, number][] } {
  const seen: [string, number][] = [];
  const lines = scan((l, n) => seen.push([l, n]));
  return { lines, seen };
}

const rng = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);

describe("scanBytes: the lines holding a literal, with their numbers", () => {
  it("agrees with splitting on random texts, literals and line ends", () => {
    const r = rng(3);
    const words = ["sshd", "cron", "reject:", "é", "", "a b", "sshd[1]"];
    for (let k = 0; k < 500; k++) {
      const n = Math.floor(r() * 12);
      const body = Array.from({ length: n }, () => Array.from({ length: Math.floor(r() * 3) }, () => words[Math.floor(r() * words.length)]).join(" ")).join("\n");
      const text = body + (r() < 0.5 ? "\n" : "");
      const literals = r() < 0.3 ? [] : words.filter((w) => w && r() < 0.4);
      const want = bySplit(text, literals);
      expect(scanned((v) => scanBytes(Buffer.from(text), literals, v)), JSON.stringify({ text, literals })).toEqual(want);
    }
  });

  it("counts an empty text as no lines, and a last line without a newline as one", () => {
    expect(scanBytes(Buffer.from(""), ["x"], () => undefined)).toBe(0);
    expect(scanned((v) => scanBytes(Buffer.from("a\nx"), ["x"], v))).toEqual({ lines: 2, seen: [["x", 2]] });
    expect(scanned((v) => scanBytes(Buffer.from("x\n\n"), ["y"], v))).toEqual({ lines: 2, seen: [] });
  });

  it("decodes UTF-8 lines, and finds a literal by its rarest byte (r is common here, j is not)", () => {
    const lines = Array.from({ length: 30_000 }, (_, i) => (i % 997 === 0 ? `ünïcode ${i} sshd` : `line ${i} of rr reje${i % 3 ? " sshd" : " reject:"} ŕeject: rreject`));
    const text = `${lines.join("\n")}\n`;
    expect(scanned((v) => scanBytes(Buffer.from(text), ["sshd"], v))).toEqual(bySplit(text, ["sshd"]));
    expect(scanned((v) => scanBytes(Buffer.from(text), ["reject:", "ünï"], v))).toEqual(bySplit(text, ["reject:", "ünï"]));
    // few lines hold these: each is decoded alone
    expect(scanned((v) => scanBytes(Buffer.from(text), ["ünï", "line 2999"], v))).toEqual(bySplit(text, ["ünï", "line 2999"]));
    expect(scanned((v) => scanBytes(Buffer.from(text), ["rreject"], v)).lines).toBe(30_000);
  });

  it("where nearly every line holds a literal, hands over every line for a while, then searches again", () => {
    const lines = Array.from({ length: 60_000 }, (_, i) => (i < 30_000 ? (i % 50 ? `Dec  6 h sshd[${i}]: line ${i}` : `Dec  6 h cron[${i}]: x`) : i % 1000 ? `Dec  6 h cron[${i}]: line ${i}` : `Dec  6 h sshd[${i}]: y`));
    const text = `${lines.join("\n")}\n`;
    const want = bySplit(text, ["sshd"]);
    const got = scanned((v) => scanBytes(Buffer.from(text), ["sshd"], v));
    expect(got.lines).toBe(60_000);
    // every line handed over is the line of its number, and every line with the literal is handed over
    for (const [l, n] of got.seen) expect(l).toBe(lines[n - 1]);
    expect(got.seen.filter(([l]) => l.includes("sshd"))).toEqual(want.seen);
    // the dense half is handed over whole, the rest (a literal every 1,000 lines) only where it is
    expect(got.seen.some(([l]) => l.includes("cron[5000]:"))).toBe(true);
    expect(got.seen.filter(([, n]) => n > 40_000).length).toBe(20);
  });
});

describe("scanBytes on bytes that are not all ASCII, valid UTF-8 or not", () => {
  it("hands over each line as UTF-8 decodes it, over many blocks", () => {
    const r = rng(11);
    const pieces = [Buffer.from("sshd[1]: Failed "), Buffer.from("cron "), Buffer.from("é"), Buffer.from([0xe2, 0x82]), Buffer.from([0xff]), Buffer.from([0xc3]), Buffer.from("x"), Buffer.from("€sshd")];
    for (let k = 0; k < 20; k++) {
      const lines = Array.from({ length: 2000 + Math.floor(r() * 8000) }, () => Buffer.concat(Array.from({ length: Math.floor(r() * 6) }, () => pieces[Math.floor(r() * pieces.length)] as Buffer)));
      const bytes = Buffer.concat(lines.flatMap((l) => [l, Buffer.from("\n")]));
      const literals = [["sshd"], ["cron", "x"], [], ["é"]][k % 4] as string[];
      expect(scanned((v) => scanBytes(bytes, literals, v))).toEqual(bySplit(bytes.toString("utf8"), literals));
    }
  });
});

describe("detachedCopy: a string cut from a block, copied", () => {
  it.each(["", "a", "203.0.113.7", "2001:db8::1234", "x".repeat(100)])("is the same text: %s", (s) => {
    const block = `prefix ${s} suffix`;
    expect(detachedCopy(block.slice(7, 7 + s.length))).toBe(s);
  });
});
