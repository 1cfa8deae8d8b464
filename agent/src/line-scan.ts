import { isAscii } from "node:buffer";

/**
 * Reading a whole log for a filter (`fleetwall jail test`) without touching the lines it cannot
 * match: the filter's literals (`Matcher.literals`: sshd's program tag, a fail2ban filter's words)
 * are looked for in the log's text, and only the lines holding one are cut out and handed over.
 * The other lines cost a search and a newline count: no string is made for them. Pure.
 */

/**
 * How a literal is looked for: from its rarest byte in a sample of the log (a search stops at
 * every occurrence of the pattern's first character: `reject:` costs ten times `ject:` in a log
 * full of r's), each hit then checked for the whole literal in place.
 */
interface Probe {
  literal: string;
  /** The literal from its rarest character on. */
  probe: string;
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
    // a string is searched by UTF-16 units: an ASCII literal's offset is the same, any other is searched whole
    if (bytes.length !== literal.length) offset = 0;
    return { literal, probe: literal.slice(offset), offset };
  });
}

/** Where a probe's literal next starts in `text` at or after `from`, or -1. */
function nextInText(text: string, p: Probe, from: number): number {
  for (let at = text.indexOf(p.probe, from + p.offset); at !== -1; at = text.indexOf(p.probe, at + 1)) {
    if (p.offset === 0 || text.startsWith(p.literal, at - p.offset)) return at - p.offset;
  }
  return -1;
}

/** The lines of `text` holding a literal (every line without probes); returns the number of lines. */
function scan(text: string, probes: readonly Probe[], visit: (line: string, n: number) => void): number {
  const next = probes.map(() => -2);
  let pos = 0;
  let n = 0;
  while (pos < text.length) {
    let end = text.indexOf("\n", pos);
    if (probes.length) {
      let hit = -1;
      for (let i = 0; i < probes.length; i++) {
        let at = next[i] as number;
        if (at !== -1 && at < pos) next[i] = at = nextInText(text, probes[i] as Probe, pos);
        if (at !== -1 && (hit === -1 || at < hit)) hit = at;
      }
      if (hit === -1) break;
      // the line the literal is on: count the lines skipped to reach it
      for (; end !== -1 && end < hit; end = text.indexOf("\n", pos)) {
        n++;
        pos = end + 1;
      }
    }
    if (end === -1) end = text.length;
    n++;
    visit(text.slice(pos, end), n);
    pos = end + 1;
  }
  // the lines after the last literal
  for (let nl = text.indexOf("\n", pos); nl !== -1; nl = text.indexOf("\n", nl + 1)) {
    n++;
    pos = nl + 1;
  }
  return pos < text.length ? n + 1 : n;
}

/** Bytes decoded at a time: small strings are cheap to make and to collect. */
const BLOCK = 64 * 1024;

/**
 * Hands over the lines of a log (UTF-8 bytes) that contain one of `literals` (every line when there
 * are none), decoded, with their 1-based numbers; returns the number of lines (a last line without
 * a newline counts, an empty log has none). For a filter whose matcher rejects, unchanged, every
 * line without its literals, the result is that of feeding it every line. A literal never holds a
 * newline (a filter of one line). The log is decoded a block of whole lines at a time (a block ends
 * after a newline, which no UTF-8 sequence holds); an ASCII block as latin1, a copy where UTF-8
 * would validate, and one non-ASCII character widens only its own block to two bytes a character.
 */
export function scanBytes(bytes: Buffer, literals: readonly string[], visit: (line: string, n: number) => void): number {
  const probes = probesFor(bytes.subarray(0, 16384), literals);
  let n = 0;
  for (let start = 0; start < bytes.length; ) {
    const nl = bytes.indexOf(10, Math.min(start + BLOCK, bytes.length) - 1);
    const end = nl === -1 ? bytes.length : nl + 1;
    const text = bytes.toString(isAscii(bytes.subarray(start, end)) ? "latin1" : "utf8", start, end);
    const before = n;
    n += scan(text, probes, (line, i) => visit(line, before + i));
    start = end;
  }
  return n;
}
