/**
 * Two lookaheads fail2ban's filters use inside repeated groups, where a check after the match
 * cannot see every pass, rewritten exactly without lookaround:
 *
 * - `(?!word=)\w+=…`: the word before `=` is any but `word` (the `\w+` run ends at the `=`, which
 *   is no word character). Written as the words that differ from it, are shorter or longer.
 *   Distributed over a group's alternatives: one that starts with another literal keeps as is.
 * - `(?=")` ending a repeated group whose passes start with `"` and which is followed by `"`:
 *   every continuation starts with `"` anyway, so it says nothing.
 * - `(?!w1|w2)C+` with C one of `\S`, `\w`, `[\w-]`: the runs of C that start with no wi, written
 *   as a tree of the words' prefixes (anywhere: it is exact).
 */

const WORD = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

/** `\w+` except exactly `w` (w: word characters). */
function notWord(w: string): string {
  const alts: string[] = [];
  for (let i = 0; i < w.length; i++) alts.push(`${w.slice(0, i)}[${WORD.replace(w[i] as string, "")}]\\w*`);
  for (let i = 1; i < w.length; i++) alts.push(w.slice(0, i));
  alts.push(`${w}\\w+`);
  return `(?:${alts.join("|")})`;
}

/** Splits a group body at its top-level `|`. */
function alternatives(body: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === "\\") i++;
    else if (c === "[") {
      for (i++; i < body.length && body[i] !== "]"; i++) if (body[i] === "\\") i++;
    } else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "|" && depth === 0) {
      out.push(body.slice(from, i));
      from = i + 1;
    }
  }
  return [...out, body.slice(from)];
}

/** One alternative under `(?!word<y>)`: rewritten, null when it can never match, undefined when the rewrite cannot say. */
function underNegative(alt: string, word: string, y: string): string | null | undefined {
  const esc = y.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  if (alt.startsWith(`\\w+${esc}`) || alt.startsWith(`\\w+${y}`)) return notWord(word) + alt.slice(3);
  const lit = /^[A-Za-z0-9_ ]+/.exec(alt)?.[0] ?? "";
  const full = word + y;
  if (!lit) return undefined;
  if (lit.startsWith(full)) return null;
  const n = Math.min(lit.length, full.length);
  return lit.slice(0, n) !== full.slice(0, n) ? alt : undefined;
}

/** Class C without the characters `out` (C: `\S`, `\w` or `[\w-]`; out: word characters). */
function without(c: string, out: string[]): string {
  const esc = out.join("");
  if (c === "\\S") return `[^\\s${esc}]`;
  const word = [...WORD].filter((x) => !out.includes(x)).join("");
  return c === "\\w" ? `[${word}]` : `[${word}-]`;
}

/** Runs of C (at least one character) that start with none of `words`. */
function notStarting(c: string, words: string[]): string {
  const node = (prefix: string, top: boolean): string => {
    const next = [...new Set(words.filter((w) => w.startsWith(prefix) && w.length > prefix.length).map((w) => w[prefix.length] as string))];
    const alts = [`${without(c, next)}${c}*`];
    for (const k of next) {
      if (words.includes(prefix + k)) continue; // a whole word: every continuation starts with it
      alts.push(`${k}${node(prefix + k, false)}`);
    }
    const body = `(?:${alts.join("|")})`;
    return top ? body : `${body}?`;
  };
  return node("", true);
}

/** `(?!w1|w2)C+` at `open`, anywhere in the regex: rewritten exactly, or undefined. */
export function rewriteNotStarting(s: string, open: number, close: number): string | undefined {
  if (s[open + 2] !== "!") return undefined;
  const words = s.slice(open + 3, close).split("|");
  if (!words.every((w) => /^\w+$/.test(w))) return undefined;
  const m = /^(\\S|\\w|\[\\w-\])\+(?![*+?{])/.exec(s.slice(close + 1));
  if (!m) return undefined;
  return s.slice(0, open) + notStarting(m[1] as string, words) + s.slice(close + 1 + m[0].length);
}

/** The regex with the lookahead at `open`..`close` rewritten, or undefined. */
export function rewriteLookahead(s: string, open: number, close: number, enclosing: { open: number; close: number } | undefined): string | undefined {
  const body = s.slice(open + 3, close);
  if (s[open + 2] === "=" && /^(?:\\.|[^\\()[\]|*+?{}.^$])$/.test(body) && enclosing && close + 1 === enclosing.close) {
    const c = body.length === 2 ? body[1] : body;
    const inner = s.slice(enclosing.open, enclosing.open + 3) === "(?:" ? enclosing.open + 3 : enclosing.open + 1;
    const after = s.slice(enclosing.close + 1).replace(/^(?:[*+?]|\{\d+(?:,\d*)?\})\??/, "");
    if (s[inner] === c && after[0] === c) return s.slice(0, open) + s.slice(close + 1);
    return undefined;
  }
  const neg = s[open + 2] === "!" ? /^(\w+)([^\w\s\\()[\]|*+?{}.^$])$/.exec(body) : null;
  if (!neg) return undefined;
  const [, word, y] = neg as unknown as [string, string, string];
  const rest = s.slice(close + 1);
  if (rest.startsWith("\\w+")) {
    const r = underNegative(rest, word, y);
    return typeof r === "string" ? s.slice(0, open) + r : undefined;
  }
  if (!rest.startsWith("(?:")) return undefined;
  let depth = 0;
  let end = -1;
  for (let i = 0; i < rest.length && end < 0; i++) {
    if (rest[i] === "\\") i++;
    else if (rest[i] === "(") depth++;
    else if (rest[i] === ")" && --depth === 0) end = i;
  }
  if (end < 0 || /^[*+?{]/.test(rest.slice(end + 1))) return undefined;
  const alts = alternatives(rest.slice(3, end)).map((a) => underNegative(a, word, y));
  if (alts.some((a) => a === undefined)) return undefined;
  const kept = alts.filter((a) => a !== null) as string[];
  if (!kept.length) return undefined;
  return `${s.slice(0, open)}(?:${kept.join("|")})${rest.slice(end + 1)}`;
}
