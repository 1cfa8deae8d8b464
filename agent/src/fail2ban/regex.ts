/**
 * fail2ban regexes (Python `re` syntax with fail2ban's tags) → JavaScript regexes that V8's
 * linear-time engine accepts. Pure. What cannot be expressed without backtracking (backreferences,
 * conditionals, lookarounds other than a final negative or positive lookahead) is refused with the
 * reason, never run on the backtracking engine.
 */

import { CheckError, extractChecks, type Check } from "./checks.js";
import { requiredLiterals } from "./literals.js";

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


export interface Translated {
  /** JavaScript source, tags expanded. */
  source: string;
  flags: string;
  /** Conditions tested on a match (lookarounds, backreferences, conditionals: ./checks.ts). */
  checks: Check[];
  /** Literals one of which every match contains ([]: none known), for a cheap pre-check. */
  literals: string[];
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
export function caseless(fragment: string): string {
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
    } else if (!inClass && c === "(" && /^\(\?<\w+>/.test(fragment.slice(i))) {
      const name = (/^\(\?<\w+>/.exec(fragment.slice(i)) as RegExpExecArray)[0];
      out += name;
      i += name.length - 1;
    } else if (/[a-zA-Z]/.test(c)) {
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

/** `[]…]` and `[^]…]` (a leading `]` is a literal in Python) → `[\]…]`, `[^\]…]`. */
function classLeadingBracket(s: string): string {
  let out = "";
  let inClass = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === "\\") {
      out += c + (s[i + 1] ?? "");
      i++;
    } else if (!inClass && c === "[") {
      inClass = true;
      const neg = s[i + 1] === "^" ? "^" : "";
      out += "[" + neg;
      i += neg.length;
      if (s[i + 1] === "]") {
        out += "\\]";
        i++;
      }
    } else {
      if (inClass && c === "]") inClass = false;
      out += c;
    }
  }
  return out;
}

function pySyntax(regex: string, flags: Set<string>): string {
  let s = regex;
  s = s.replace(/\(\?P</g, "(?<").replace(/\(\?#[^)]*\)/g, "");
  // Python reads `]` first in a class as a literal; JavaScript reads `[^]` as any character
  s = classLeadingBracket(s);
  s = s.replace(/\\A/g, "^").replace(/\\Z/g, "$").replace(/\{,(\d+)\}/g, "{0,$1}");
  // fail2ban turns `((?i)X)` into the scoped `(?i:X)`; a flag group elsewhere applies to the whole regex
  for (let m = /\((?:\?:)?\(\?([a-zA-Z]+)\)/.exec(s); m; m = /\((?:\?:)?\(\?([a-zA-Z]+)\)/.exec(s)) {
    if (m[1] !== "i") throw new UntranslatableRegex(`the scoped flag (?${m[1]}) has no JavaScript form`);
    const end = groupEnd(s, m.index);
    s = s.slice(0, m.index) + "(?:" + caseless(s.slice(m.index + m[0].length, end)) + s.slice(end);
  }
  let caseInsensitive = false;
  s = s.replace(/\(\?([aiLmsux]+)\)/g, (_, f: string) => {
    for (const c of f) {
      // V8's linear engine has no ignore-case: the letters are written in both cases instead
      if (c === "i") caseInsensitive = true;
      else if (c === "s" || c === "m") flags.add(c);
      else if (c === "x") throw new UntranslatableRegex("verbose mode (?x) is not translated");
    }
    return "";
  });
  if (/\(\?[a-zA-Z-]+:/.test(s)) throw new UntranslatableRegex("a scoped flag group (?flags:…) has no JavaScript form in Node 20");
  return caseInsensitive ? caseless(s) : s;
}

/** Where the atom ending just before `at` starts: a group, a class, an escape or one character. */
function atomStart(s: string, at: number): number {
  const last = s[at - 1];
  if (last === ")") {
    let depth = 0;
    for (let i = at - 1; i >= 0; i--) {
      if (s[i - 1] === "\\" && s[i - 2] !== "\\") continue;
      if (s[i] === ")") depth++;
      else if (s[i] === "(" && --depth === 0) return i;
    }
    return -1;
  }
  if (last === "]") {
    for (let i = at - 2; i >= 0; i--) if (s[i] === "[" && s[i - 1] !== "\\") return s[i - 1] === "^" && s[i - 2] === "[" ? i - 2 : i;
    return -1;
  }
  return s[at - 2] === "\\" ? at - 2 : at - 1;
}

/**
 * `X{n,m}` → n copies of X and m-n optional ones (`X{n,}` → n copies and `X*`). V8's linear engine
 * refuses a counted repetition over 16, or nested ones whose product is; written out, it takes them.
 * Atoms with named captures cannot be copied and stay as they are.
 */
export function unrollCounted(source: string): string {
  let s = source;
  let inClass = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (inClass) {
      inClass = c !== "]";
      continue;
    }
    if (c === "[") {
      inClass = true;
      if (s[i + 1] === "^") i++;
      if (s[i + 1] === "]") i++;
      continue;
    }
    const q = c === "{" ? /^\{(\d+)(,(\d*))?\}(\??)/.exec(s.slice(i)) : null;
    if (!q) continue;
    const from = atomStart(s, i);
    const atom = s.slice(from, i);
    const min = Number(q[1]);
    const max = q[2] === undefined ? min : q[3] === "" ? Infinity : Number(q[3]);
    if (from < 0 || /\(\?</.test(atom.replace(/\(\?<[=!]/g, "")) || max > 1000 || max < min) continue;
    const body = atom.startsWith("(") && !atom.startsWith("(?") ? `(?:${atom.slice(1)}` : atom.length > 1 && !atom.startsWith("(") && !atom.startsWith("[") && !atom.startsWith("\\") ? `(?:${atom})` : atom;
    const lazy = q[4] ?? "";
    const rest = max === Infinity ? `${body}*${lazy}` : `${body}?${lazy}`.repeat(max - min);
    const out = body.repeat(min) + rest;
    s = s.slice(0, from) + out + s.slice(i + q[0].length);
    i = from - 1;
  }
  return s;
}

/** Translations by options and regex: `jail test` and `import` check a filter's regexes, then compile them. */
const translations = new Map<string, Translated | UntranslatableRegex>();

/** Translates one fail2ban regex, tags included. Throws UntranslatableRegex with the reason. */
export function translateRegex(regex: string, options: { multiline?: boolean; useDns?: boolean } = {}): Translated {
  const key = `${options.multiline ? "m" : "-"}${options.useDns === false ? "-" : "d"}${regex}`;
  let t = translations.get(key);
  if (t === undefined) {
    try {
      t = translate(regex, options);
    } catch (e) {
      if (!(e instanceof UntranslatableRegex)) throw e;
      t = e;
    }
    if (translations.size >= 512) translations.clear();
    translations.set(key, t);
  }
  if (t instanceof UntranslatableRegex) throw t;
  return t;
}

function translate(regex: string, options: { multiline?: boolean; useDns?: boolean }): Translated {
  const flags = new Set<string>(options.multiline ? ["m"] : []);
  const py = pySyntax(expandTags(regex, options.useDns ?? true), flags);
  const f = [...flags].sort().join("");
  const compile = (src: string, fl = f): RegExp => {
    try {
      new RegExp(src, fl + "l");
      return new RegExp(src, fl);
    } catch (e) {
      const why = (e as Error).message;
      if (/Invalid (regular expression )?flags/.test(why)) throw new UntranslatableRegex("the linear-time regex engine is off (run with --enable-experimental-regexp-engine)");
      throw new UntranslatableRegex(`not accepted by the linear-time engine: ${why}`);
    }
  };
  let extracted: { source: string; checks: Check[] };
  try {
    // a check's own regex: no multi-line anchors, it is tested at one place
    extracted = extractChecks(py, (src) => compile(unrollCounted(src), f.replace("m", "")));
  } catch (e) {
    if (e instanceof CheckError) throw new UntranslatableRegex(e.message, { cause: e });
    throw e;
  }
  let source = extracted.source;
  try {
    compile(source);
  } catch (e) {
    // counted repetitions written out, which the linear engine takes more often
    const unrolled = unrollCounted(source);
    if (unrolled === source) throw e;
    compile((source = unrolled));
  }
  const checks = extracted.checks;
  return {
    source,
    flags: f + (checks.some((c) => c.kind !== "backref") ? "d" : ""),
    checks,
    literals: flags.has("i") ? [] : requiredLiterals(source),
  };
}
