import { isAscii } from "node:buffer";

/**
 * Reading a whole log for a filter (`fleetwall jail test`) without touching the lines it cannot
 * match: the filter's literals (`Matcher.literals`: sshd's program tag, a fail2ban filter's words)
 * are looked for in the log itself, and only the lines holding one are cut out and handed over.
 * The other lines cost a search and a newline count: no string is made for them. Pure.
 */

/**
 * How a literal is looked for: from its rarest byte in a sample of the log (a search stops at
 * every occurrence of the pattern's first character: `reject:` costs ten times `ject:` in a log
 * full of r's), each hit then checked for the whole literal in place.
 */
interface Probe {
  literal: string;
  bytes: Buffer;
  offset: number;
}

/** The probes for `literals`, by the bytes' counts in `sample` (a few KiB of the log). */
function probesFor(sample: Uint8Array, literals: readonly string[]): Probe[] {
  const counts = new Uint32Array(256);
  for (const b of sample) counts[b] = (counts[b] as number) + 1;
  return literals.map((literal) => {
    const bytes = Buffer.from(literal, "utf8");
    let offset = 0;
    for (let i = 1; i < bytes.length; i++) if ((counts[bytes[i] as number] as number) < (counts[bytes[offset] as number] as number)) offset = i;
    // a string is searched by UTF-16 units: an ASCII literal's offset is the same, any other starts whole
    return { literal, bytes, offset: bytes.length === literal.length ? offset : 0 };
  });
}

/** Where a probe's literal next starts in `bytes` at or after `from`, or -1. */
function nextInBytes(bytes: Buffer, p: Probe, from: number): number {
  const probe = p.bytes.subarray(p.offset);
  for (let at = bytes.indexOf(probe, from + p.offset); at !== -1; at = bytes.indexOf(probe, at + 1)) {
    const start = at - p.offset;
    if (p.offset === 0 || bytes.compare(p.bytes, 0, p.bytes.length, start, start + p.bytes.length) === 0) return start;
  }
  return -1;
}

/** Where a probe's literal next starts in `text` at or after `from`, or -1. */
function nextInText(text: string, p: Probe, from: number): number {
  const probe = p.literal.slice(p.offset);
  for (let at = text.indexOf(probe, from + p.offset); at !== -1; at = text.indexOf(probe, at + 1)) {
    if (p.offset === 0 || text.startsWith(p.literal, at - p.offset)) return at - p.offset;
  }
  return -1;
}

/** Bytes or a string, searched alike (newline 10, a literal by its probe, a line cut out). */
interface Source {
  length: number;
  newline(from: number): number;
  next(p: Probe, from: number): number;
  line(start: number, end: number): string;
}

const bytesSource = (b: Buffer): Source => ({ length: b.length, newline: (from) => b.indexOf(10, from), next: (p, from) => nextInBytes(b, p, from), line: (s, e) => b.toString("utf8", s, e) });
const textSource = (t: string): Source => ({ length: t.length, newline: (from) => t.indexOf("\n", from), next: (p, from) => nextInText(t, p, from), line: (s, e) => t.slice(s, e) });

/** The lines of `src` holding a literal (every line without probes); returns the number of lines. */
function scan(src: Source, probes: readonly Probe[], visit: (line: string, n: number) => void): number {
  const next = probes.map(() => -2);
  let pos = 0;
  let n = 0;
  while (pos < src.length) {
    if (probes.length) {
      let hit = -1;
      for (let i = 0; i < probes.length; i++) {
        let at = next[i] as number;
        if (at !== -1 && at < pos) next[i] = at = src.next(probes[i] as Probe, pos);
        if (at !== -1 && (hit === -1 || at < hit)) hit = at;
      }
      if (hit === -1) break;
      // the line the literal is on: count the lines skipped to reach it
      for (let nl = src.newline(pos); nl !== -1 && nl < hit; nl = src.newline(nl + 1)) {
        n++;
        pos = nl + 1;
      }
    }
    let end = src.newline(pos);
    if (end === -1) end = src.length;
    n++;
    visit(src.line(pos, end), n);
    pos = end + 1;
  }
  // the lines after the last literal
  for (let nl = src.newline(pos); nl !== -1; nl = src.newline(nl + 1)) {
    n++;
    pos = nl + 1;
  }
  return pos < src.length ? n + 1 : n;
}

/** Bytes decoded at a time, when most lines hold a literal. */
const BLOCK = 64 * 1024;

/** The whole log decoded a block of whole lines at a time (a block ends after a newline, which no UTF-8 sequence holds). */
function scanDense(bytes: Buffer, probes: readonly Probe[], visit: (line: string, n: number) => void): number {
  let n = 0;
  for (let start = 0; start < bytes.length; ) {
    const nl = bytes.indexOf(10, Math.min(start + BLOCK, bytes.length) - 1);
    const end = nl === -1 ? bytes.length : nl + 1;
    // ASCII as latin1: a copy, where UTF-8 would validate; one non-ASCII character widens only its block
    const text = bytes.toString(isAscii(bytes.subarray(start, end)) ? "latin1" : "utf8", start, end);
    const before = n;
    n += scan(textSource(text), probes, (line, i) => visit(line, before + i));
    start = end;
  }
  return n;
}

/**
 * Hands over the lines of a log (UTF-8 bytes) that contain one of `literals` (every line when there
 * are none), decoded, with their 1-based numbers; returns the number of lines (a last line without
 * a newline counts, an empty log has none). For a filter whose matcher rejects, unchanged, every
 * line without its literals, the result is that of feeding it every line. A literal never holds a
 * newline (a filter of one line). Where the literals are in under a quarter of the first 256 KiB's
 * lines, only those lines are decoded, one by one; otherwise the log is decoded block by block.
 */
export function scanBytes(bytes: Buffer, literals: readonly string[], visit: (line: string, n: number) => void): number {
  const probes = probesFor(bytes.subarray(0, 16384), literals);
  const sample = bytes.subarray(0, 256 * 1024);
  let hits = 0;
  const lines = scan(bytesSource(sample), probes, () => hits++);
  return probes.length && hits * 4 < lines ? scan(bytesSource(bytes), probes, visit) : scanDense(bytes, probes, visit);
}
