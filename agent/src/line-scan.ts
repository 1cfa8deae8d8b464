import { isAscii } from "node:buffer";

/**
 * Walks the lines of a whole log text, handing over only those that contain one of `literals`
 * (all lines when there are none), with their 1-based numbers; returns the number of lines (a
 * last line without a newline counts, an empty text has none). The literals are searched in the
 * text itself, so a line that contains none is never cut out: no string is made for it, and the
 * search (V8's indexOf, Boyer–Moore–Horspool for longer literals) skips it at memory speed.
 * For a filter whose matcher rejects, unchanged, every line without its literals (`Matcher.literals`),
 * the result is that of feeding it every line. Pure.
 */
export function scanLines(text: string, literals: readonly string[], visit: (line: string, n: number) => void): number {
  const next = literals.map(() => -2);
  let pos = 0;
  let n = 0;
  while (pos < text.length) {
    if (literals.length) {
      let hit = -1;
      for (let i = 0; i < literals.length; i++) {
        let at = next[i] as number;
        if (at !== -1 && at < pos) next[i] = at = text.indexOf(literals[i] as string, pos);
        if (at !== -1 && (hit === -1 || at < hit)) hit = at;
      }
      if (hit === -1) break;
      // the line the literal is on: count the lines skipped to reach it
      for (let nl = text.indexOf("\n", pos); nl !== -1 && nl < hit; nl = text.indexOf("\n", nl + 1)) {
        n++;
        pos = nl + 1;
      }
    }
    let end = text.indexOf("\n", pos);
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

/** Bytes decoded at a time when the text is not all ASCII. */
const BLOCK = 256 * 1024;

/** ASCII bytes as a string: latin1 decoding is a copy (UTF-8's would validate). */
const decode = (bytes: Buffer, start: number, end: number) => (isAscii(bytes.subarray(start, end)) ? bytes.toString("latin1", start, end) : bytes.toString("utf8", start, end));

/**
 * scanLines over a log's bytes, decoded as UTF-8. V8 keeps ASCII text one byte a character; one
 * non-ASCII character makes a string two bytes a character and slows every search in it, so a
 * text that is not all ASCII is decoded a block of whole lines at a time (a block ends after a
 * newline, which no UTF-8 sequence contains) and only the blocks with such characters are wide.
 */
export function scanBytes(bytes: Buffer, literals: readonly string[], visit: (line: string, n: number) => void): number {
  if (isAscii(bytes)) return scanLines(bytes.toString("latin1"), literals, visit);
  let n = 0;
  for (let start = 0; start < bytes.length; ) {
    const nl = bytes.indexOf(10, Math.min(start + BLOCK, bytes.length) - 1);
    const end = nl === -1 ? bytes.length : nl + 1;
    const before = n;
    n += scanLines(decode(bytes, start, end), literals, (line, i) => visit(line, before + i));
    start = end;
  }
  return n;
}
