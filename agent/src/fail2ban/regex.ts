/**
 * fail2ban regexes (Python `re` syntax with fail2ban's tags) → JavaScript regexes that V8's
 * linear-time engine accepts. Pure. What cannot be expressed without backtracking (backreferences,
 * conditionals, lookarounds other than a final negative or positive lookahead) is refused with the
 * reason, never run on the backtracking engine.
 */

export class UntranslatableRegex extends Error {
  override name = "UntranslatableRegex";
}

const IP4 = "(?:\\d{1,3}\\.){3}\\d{1,3}";
// fail2ban's IP_6_RE ends with `(?<=:):`; every token before it ends with ':', so it is a plain ':'
// and its `(…){1,7}` is written out: V8's linear engine refuses nested counted repetitions that large
const IP6_PART = "(?:[0-9a-fA-F]{1,4}::?|::)";
const IP6 = `${IP6_PART}${`${IP6_PART}?`.repeat(6)}(?:[0-9a-fA-F]{1,4}|:)`;
const R_IP4 = `(?:::f{4,6}:)?(?<ip4>${IP4})`;
const R_IP6 = `(?<ip6>${IP6})`;
const R_DNS = "(?<dns>[\\w\\-.^_]*\\w)";
const R_ADDR = `\\[?(?:${R_IP4}|${R_IP6})\\]?`;
const R_CIDR = "(?<cidr>\\d+)";
const TAGS: Readonly<Record<string, string>> = {
  HOST: `(?:${R_ADDR}|${R_DNS})`,
  ADDR: R_ADDR,
  IP4: R_IP4,
  IP6: R_IP6,
  DNS: R_DNS,
  CIDR: R_CIDR,
  SUBNET: `\\[?(?:${R_IP4}|${R_IP6})(?:/${R_CIDR})?\\]?`,
  "F-ID/": "(?<fid>\\S+)",
  "F-PORT/": "(?<fport>\\w+)",
};
for (const t of ["IP4", "IP6", "ADDR", "CIDR", "SUBNET", "DNS"]) (TAGS as Record<string, string>)[`F-${t}/`] = TAGS[t] as string;
const GROUP_NAME: Readonly<Record<string, string>> = { id: "fid", port: "fport" };

/** True when a regex names the offender (a host tag, or an `<F-ID>`). */
export const HOST_TAG = /<(?:HOST|ADDR|IP4|IP6|SUBNET|DNS|F-ID|F-(?:IP4|IP6|ADDR|SUBNET|DNS|ID)\/)>/;

export interface Translated {
  /** JavaScript source, tags expanded. */
  source: string;
  flags: string;
  /** A final lookahead, checked at the end of the match: `(?!X)` → {negate: true, source: X}. */
  after?: { negate: boolean; re: RegExp };
  /** A literal every match contains (lower case when the regex ignores case), for a cheap pre-check. */
  literal: string;
}

/** Expands fail2ban's tags: host tags, `<F-NAME>…</F-NAME>` groups, `<SKIPLINES>`. */
export function expandTags(regex: string, useDns = true): string {
  let skip = 0;
  return regex.replace(/<\/?[\w-]+\/?>/g, (tag) => {
    const tn = tag.slice(1, -1);
    if (tn === "HOST") return useDns ? (TAGS.HOST as string) : R_ADDR;
    if (tn === "SKIPLINES") return `\\n(?<skiplines${skip++}>(?:.*\\n)*?)`;
    const fixed = TAGS[tn];
    if (fixed !== undefined) return fixed;
    const m = /^(\/?)F-([A-Z0-9_-]+)$/.exec(tn);
    if (!m) return tag;
    if (m[1]) return ")";
    const name = (m[2] as string).toLowerCase().replace(/-/g, "_");
    return `(?<${GROUP_NAME[name] ?? name}>`;
  });
}

/** Makes the letters of a regex fragment match either case (for `(?i:…)`, which Node 20 lacks). */
function caseless(fragment: string): string {
  let out = "";
  let inClass = false;
  for (let i = 0; i < fragment.length; i++) {
    const c = fragment[i] as string;
    if (c === "\\") {
      out += c + (fragment[i + 1] ?? "");
      i++;
    } else if (c === "[" && !inClass) {
      inClass = true;
      out += c;
    } else if (c === "]" && inClass) {
      inClass = false;
      out += c;
    } else if (/[a-zA-Z]/.test(c) && !(fragment[i - 1] === "<" || fragment.startsWith("?<", i - 2))) {
      const pair = c.toLowerCase() + c.toUpperCase();
      out += inClass ? pair : `[${pair}]`;
    } else out += c;
  }
  return out;
}

/** The extent of the group opening at `open` (index of its `(`), or -1. */
function groupEnd(s: string, open: number): number {
  let depth = 0;
  let inClass = false;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === "\\") i++;
    else if (inClass) inClass = c !== "]";
    else if (c === "[") inClass = true;
    else if (c === "(") depth++;
    else if (c === ")" && --depth === 0) return i;
  }
  return -1;
}

function pySyntax(regex: string, flags: Set<string>): string {
  let s = regex;
  if (/\(\?P=/.test(s)) throw new UntranslatableRegex("a backreference (?P=name) needs backtracking");
  if (/\(\?\(/.test(s)) throw new UntranslatableRegex("a conditional group (?(name)…) is Python-only and needs backtracking");
  if (/\(\?<[=!]/.test(s)) throw new UntranslatableRegex("a lookbehind (?<=…)/(?<!…) needs backtracking");
  s = s.replace(/\(\?P</g, "(?<").replace(/\(\?#[^)]*\)/g, "");
  s = s.replace(/\\A/g, "^").replace(/\\Z/g, "$").replace(/\{,(\d+)\}/g, "{0,$1}");
  // fail2ban turns `((?i)X)` into the scoped `(?i:X)`; a flag group elsewhere applies to the whole regex
  for (let m = /\((?:\?:)?\(\?([a-zA-Z]+)\)/.exec(s); m; m = /\((?:\?:)?\(\?([a-zA-Z]+)\)/.exec(s)) {
    if (m[1] !== "i") throw new UntranslatableRegex(`the scoped flag (?${m[1]}) has no JavaScript form`);
    const end = groupEnd(s, m.index);
    s = s.slice(0, m.index) + "(?:" + caseless(s.slice(m.index + m[0].length, end)) + s.slice(end);
  }
  s = s.replace(/\(\?([aiLmsux]+)\)/g, (_, f: string) => {
    for (const c of f) {
      if (c === "i" || c === "s" || c === "m") flags.add(c);
      else if (c === "x") throw new UntranslatableRegex("verbose mode (?x) is not translated");
    }
    return "";
  });
  if (/\(\?[a-zA-Z-]+:/.test(s)) throw new UntranslatableRegex("a scoped flag group (?flags:…) has no JavaScript form in Node 20");
  return s;
}

/** A final top-level lookahead (optionally before `$`) becomes a check after the match. */
function finalLookahead(s: string): { body: string; after?: { negate: boolean; source: string } } {
  const m = /\(\?([=!])/.exec(s);
  if (!m) return { body: s };
  const end = groupEnd(s, m.index);
  const rest = s.slice(end + 1);
  if (end < 0 || (rest !== "" && rest !== "$") || /\(\?[=!]/.test(s.slice(m.index + 3, end)) || /\(\?[=!]/.test(s.slice(0, m.index))) {
    throw new UntranslatableRegex("a lookahead (?=…)/(?!…) inside the regex needs backtracking");
  }
  let depth = 0;
  for (let i = 0; i < m.index; i++) {
    if (s[i] === "\\") i++;
    else if (s[i] === "(") depth++;
    else if (s[i] === ")") depth--;
  }
  if (depth !== 0) throw new UntranslatableRegex("a lookahead (?=…)/(?!…) inside a group needs backtracking");
  return { body: s.slice(0, m.index), after: { negate: m[1] === "!", source: s.slice(m.index + 3, end) + rest } };
}

/** The longest literal every match must contain, or "" (see prefilter). */
export function requiredLiteral(source: string): string {
  let best = "";
  let run = "";
  let depth = 0;
  let inClass = false;
  const cut = () => {
    if (run.length > best.length) best = run;
    run = "";
  };
  for (let i = 0; i < source.length; i++) {
    const c = source[i] as string;
    const next = source[i + 1];
    const optional = next === "?" || next === "*" || (next === "{" && /^\{0[,}]/.test(source.slice(i + 1)));
    if (inClass) {
      if (c === "\\") i++;
      else if (c === "]") inClass = false;
      continue;
    }
    if (depth > 0 && c === "\\") {
      i++;
      continue;
    }
    if (c === "[") {
      cut();
      inClass = true;
    } else if (c === "(") {
      cut();
      depth++;
    } else if (c === ")") {
      cut();
      depth--;
    } else if (c === "|") {
      if (depth === 0) return "";
      cut();
    } else if (depth > 0) continue;
    else if (c === "\\") {
      const e = next ?? "";
      i++;
      const after = source[i + 1];
      const opt = after === "?" || after === "*" || after === "{";
      if (/[^\w\s]/.test(e) && !opt) run += e;
      else cut();
    } else if (/[\w :;,'"=/@#-]/.test(c) && !optional) run += c;
    else cut();
  }
  cut();
  return best;
}

/** `(X){n,m}` → n copies of X and m-n optional ones, for groups without named captures (small counts only). */
export function unrollCounted(source: string): string {
  let s = source;
  for (let guard = 0; guard < 50; guard++) {
    let done = true;
    for (let i = 0; i < s.length; i++) {
      if (s[i] === "\\") {
        i++;
        continue;
      }
      if (s[i] !== "(" || s[i + 1] === "?" && s[i + 2] === "<") continue;
      const end = groupEnd(s, i);
      const q = /^\{(\d+)(?:,(\d+))?\}/.exec(s.slice(end + 1));
      if (end < 0 || !q) continue;
      const group = s.slice(i, end + 1);
      const min = Number(q[1]);
      const max = q[2] === undefined ? min : Number(q[2]);
      if (/\(\?</.test(group) || max > 16 || max < min) continue;
      const body = group.startsWith("(?:") ? group : `(?:${group.slice(1)}`;
      s = s.slice(0, i) + body.repeat(min) + `${body}?`.repeat(max - min) + s.slice(end + 1 + q[0].length);
      done = false;
      break;
    }
    if (done) return s;
  }
  return s;
}

/** Translates one fail2ban regex, tags included. Throws UntranslatableRegex with the reason. */
export function translateRegex(regex: string, options: { multiline?: boolean; useDns?: boolean } = {}): Translated {
  const flags = new Set<string>(options.multiline ? ["m"] : []);
  const py = pySyntax(expandTags(regex, options.useDns ?? true), flags);
  const { body, after } = finalLookahead(py);
  const f = [...flags].sort().join("");
  const compile = (src: string): RegExp => {
    try {
      new RegExp(src, f + "l");
      return new RegExp(src, f);
    } catch (e) {
      const why = (e as Error).message;
      if (/Invalid (regular expression )?flags/.test(why)) throw new UntranslatableRegex("the linear-time regex engine is off (run with --enable-experimental-regexp-engine)");
      throw new UntranslatableRegex(`not accepted by the linear-time engine: ${why}`);
    }
  };
  let source = body;
  try {
    compile(source);
  } catch (e) {
    // a counted repetition of a group is written out, which the linear engine takes more often
    const unrolled = unrollCounted(source);
    if (unrolled === source) throw e;
    compile((source = unrolled));
  }
  const literal = requiredLiteral(source);
  return {
    source,
    flags: f,
    ...(after ? { after: { negate: after.negate, re: compile(`^(?:${after.source})`) } } : {}),
    literal: flags.has("i") ? literal.toLowerCase() : literal,
  };
}
