import { isAscii } from "node:buffer";

/**
 * Reading a whole log for a filter (`fleetwall jail test`) without touching the lines it cannot
 * match: the filter's literals (`Matcher.literals`: sshd's program tag, a fail2ban filter's words)
 * are looked for in the log's text, and only the lines holding one are cut out and handed over.
 * The other lines cost a search and a newline count: no string is made for them. Pure.
 */

/** Where a literal next is in a text at or after `from` (any index inside it), or -1. */
type Finder = (text: string, from: number) => number;

/**
 * How the literals are looked for. One: from its rarest character in a sample of the log (a search
 * stops at every occurrence of the pattern's first character: `reject:` costs several times `ject:`
 * in a log full of r's), each hit then checked for the whole literal in place. More: one regex of
 * the literals as alternatives, which finds the first of them in one pass (and in linear time).
 */
function finderFor(sample: Uint8Array, literals: readonly string[]): Finder | undefined {
  if (literals.length > 1) {
    const re = new RegExp(literals.map((l) => l.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "g");
    return (text, from) => {
      re.lastIndex = from;
      return re.test(text) ? re.lastIndex - 1 : -1;
    };
  }
  const literal = literals[0];
  if (literal === undefined) return undefined;
  const counts = new Uint32Array(256);
  for (const b of sample) counts[b] = (counts[b] as number) + 1;
  const bytes = Buffer.from(literal, "utf8");
  let offset = 0;
  // the probe keeps four characters at least: one rare character alone would stop the search too often
  for (let i = 1; i < bytes.length - 3; i++) if ((counts[bytes[i] as number] as number) < (counts[bytes[offset] as number] as number)) offset = i;
  // a string is searched by UTF-16 units: an ASCII literal's offset is the same, any other is searched whole
  if (bytes.length !== literal.length) offset = 0;
  const probe = literal.slice(offset);
  return (text, from) => {
    for (let at = text.indexOf(probe, from + offset); at !== -1; at = text.indexOf(probe, at + 1)) {
      if (offset === 0 || text.startsWith(literal, at - offset)) return at;
    }
    return -1;
  };
}

/** The lines of `text` holding a literal (every line without a finder); returns the number of lines. */
function scan(text: string, find: Finder | undefined, visit: (line: string, n: number, at: number) => void): number {
  if (!find) {
    // every line: split, a builtin, is the cheapest way to cut them all out
    const lines = text.split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    for (let i = 0, at = 0; i < lines.length; i++) {
      const line = lines[i] as string;
      visit(line, i + 1, at);
      at += line.length + 1;
    }
    return lines.length;
  }
  let pos = 0;
  let n = 0;
  while (pos < text.length) {
    let end = text.indexOf("\n", pos);
    const hit = find(text, pos);
    if (hit === -1) break;
    // the line the literal is on: count the lines skipped to reach it
    for (; end !== -1 && end < hit; end = text.indexOf("\n", pos)) {
      n++;
      pos = end + 1;
    }
    if (end === -1) end = text.length;
    n++;
    visit(text.slice(pos, end), n, pos);
    pos = end + 1;
  }
  // the lines after the last literal
  for (let nl = text.indexOf("\n", pos); nl !== -1; nl = text.indexOf("\n", nl + 1)) {
    n++;
    pos = nl + 1;
  }
  return pos < text.length ? n + 1 : n;
}

/**
 * A copy of a string cut out of a log's text, for keeping beyond its line (a session's address, a
 * cache key): V8 shares a slice's characters with the whole text it was cut from (a block of 64 KiB
 * here, a read of the live follower), and one kept slice keeps the whole block alive. A string
 * shorter than 13 characters is never such a slice.
 */
export const detachedCopy = (s: string): string => (s.length < 12 ? s : ` ${s}`.slice(1));

/** Bytes decoded at a time: small strings are cheap to make and to collect. */
const BLOCK = 64 * 1024;

/**
 * Hands over the lines of a log (UTF-8 bytes) that contain one of `literals` (every line when there
 * are none; where nearly all lines hold one, all lines), decoded, with their 1-based numbers; returns the number of lines (a last line without
 * a newline counts, an empty log has none). For a filter whose matcher rejects, unchanged, every
 * line without its literals, the result is that of feeding it every line. A literal never holds a
 * newline (a filter of one line). The log is decoded a block of whole lines at a time (a block ends
 * after a newline, which no UTF-8 sequence holds); an ASCII block as latin1, a copy where UTF-8
 * would validate, and one non-ASCII character widens only its own block to two bytes a character.
 */
export function scanBytes(bytes: Buffer, literals: readonly string[], visit: (line: string, n: number) => void): number {
  const find = finderFor(bytes.subarray(0, 16384), literals);
  // ASCII literals are found in a latin1 decoding of any block, at the same places as in UTF-8's
  const asciiLiterals = literals.every((l) => NON_ASCII.test(l) === false);
  let n = 0;
  // where nearly every line of a block held a literal (an sshd log for sshd), the next seven
  // blocks' lines are all handed over: the filter looks for its literal itself, a search first is waste
  let unsearched = 0;
  for (let start = 0; start < bytes.length; ) {
    const nl = bytes.indexOf(10, Math.min(start + BLOCK, bytes.length) - 1);
    const end = nl === -1 ? bytes.length : nl + 1;
    const ascii = isAscii(bytes.subarray(start, end));
    // a block with non-ASCII text is read as latin1 too (UTF-8 decoding a whole block, invalid
    // sequences and all, cost more than the rest of the work), and only the lines handed over that
    // hold a non-ASCII byte are decoded as UTF-8: one byte a character, so a line's place is its bytes'
    const latin1 = ascii || asciiLiterals;
    const text = bytes.toString(latin1 ? "latin1" : "utf8", start, end);
    const before = n;
    let visited = 0;
    const searched = unsearched === 0;
    n += scan(text, searched ? find : undefined, (line, i, at) => {
      visited++;
      visit(ascii || !latin1 || !NON_ASCII.test(line) ? line : bytes.toString("utf8", start + at, start + at + line.length), before + i);
    });
    if (!searched) unsearched--;
    else if (find && visited * 10 >= (n - before) * 9) unsearched = 7;
    start = end;
  }
  return n;
}

const NON_ASCII = /[^\x00-\x7f]/;
