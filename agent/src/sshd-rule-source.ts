/**
 * What the sshd filter's rules (./sshd-rules.ts) learn from their regexes' source once, when made:
 * the literal a rule starts with, the characters its match can start with, and the source with the
 * rest of the line after the address captured. Pure.
 */

/** The test for the literal a rule's source starts with (`^Literal`, or `^[aA]literal`). */
export function leadOf(source: string): (content: string) => boolean {
  const cls = /^\^\[(\w)(\w)\]/.exec(source);
  const lit = (/^[\w :;,'-]*/.exec(source.slice(cls ? cls[0].length : 1)) as RegExpExecArray)[0];
  if (!cls) return (c) => c.startsWith(lit);
  return (c) => (c[0] === cls[1] || c[0] === cls[2]) && c.startsWith(lit, 1);
}

/** `…<HOST>rest` as `…<HOST>(?<after>rest)`; `<HOST>` and `rest` must be outside any group and alternation. */
export function withAfter(source: string): string {
  const at = source.indexOf("<HOST>");
  if (at < 0) return source;
  if (source.indexOf("<HOST>", at + 1) >= 0 || !topLevel(source, 0, at) || !topLevel(source, at, source.length)) throw new Error(`sshd rule ${source}: <HOST> must be once, at the top level`);
  return `${source.slice(0, at + 6)}(?<after>${source.slice(at + 6)})`;
}

/** Whether source[from, to) opens and closes its own groups and holds no alternation outside them. */
function topLevel(source: string, from: number, to: number): boolean {
  let depth = 0;
  for (let i = from; i < to; i++) {
    const c = source[i];
    if (c === "\\") i++;
    else if (c === "[") i = source.indexOf("]", i + 1);
    else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "|" && depth === 0) return false;
    if (depth < 0) return false;
  }
  return depth === 0;
}

const QUANTIFIER = (c: string | undefined) => c === "?" || c === "*" || c === "{";

/**
 * The characters a match of `^…` (from `i`) can start with: a literal, a class of letters, or the
 * first characters of each alternative of a group; undefined (any) for anything else.
 */
export function firstChars(source: string, i = 1): string | undefined {
  const c = source[i];
  if (c === "[") {
    const end = source.indexOf("]", i);
    const set = source.slice(i + 1, end);
    return /^\w+$/.test(set) && !QUANTIFIER(source[end + 1]) ? set : undefined;
  }
  if (c === "(") {
    let j = i + 1;
    if (source.startsWith("?:", j)) j += 2;
    else if (source.startsWith("?<", j) && /^\w$/.test(source[j + 2] ?? "")) j = source.indexOf(">", j) + 1;
    else return undefined;
    const starts = [j];
    let depth = 0;
    let close = -1;
    for (let k = j; k < source.length && close < 0; k++) {
      const ch = source[k];
      if (ch === "\\") k++;
      else if (ch === "[") k = source.indexOf("]", k + 1);
      else if (ch === "(") depth++;
      else if (ch === ")") depth === 0 ? (close = k) : depth--;
      else if (ch === "|" && depth === 0) starts.push(k + 1);
    }
    if (close < 0 || QUANTIFIER(source[close + 1])) return undefined;
    let out = "";
    for (const s of starts) {
      const f = firstChars(source, s);
      if (f === undefined) return undefined;
      out += f;
    }
    return out;
  }
  if (c === undefined || "\\.^$|?*+{}()[]".includes(c) || QUANTIFIER(source[i + 1])) return undefined;
  return c;
}

