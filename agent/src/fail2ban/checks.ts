/**
 * Lookarounds, backreferences and conditional groups, which V8's linear engine refuses, become
 * checks after the match: the construct is replaced by an empty (or a copy of the referenced) named
 * group that records where the match went through it, and the condition is tested there with a
 * linear regex of its own. Sound: a match is accepted only when its own path satisfies every
 * condition, which is then a match of the original regex with the same groups (the original would
 * have tried the same path first). It may miss a match the original finds on another path; and a
 * construct inside a repeated group (only the last pass would be checked) is refused.
 */

import { rewriteLookahead, rewriteNotStarting } from "./lookahead-rewrite.js";

export class CheckError extends Error {
  override name = "CheckError";
}

export type Check =
  | { kind: "ahead" | "behind"; at: string; negate: boolean; re: RegExp }
  | { kind: "backref"; at: string; name: string }
  | { kind: "cond"; yes: string; no: string; name: string };

interface Group {
  open: number;
  close: number;
  repeated: boolean;
}

/** Every group of a regex, with whether a quantifier lets it match more than once. */
function groupsOf(s: string): Group[] {
  const out: Group[] = [];
  const stack: number[] = [];
  let inClass = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === "\\") i++;
    else if (inClass) inClass = c !== "]";
    else if (c === "[") {
      inClass = true;
      if (s[i + 1] === "^") i++;
      if (s[i + 1] === "]") i++;
    } else if (c === "(") stack.push(i);
    else if (c === ")") {
      const open = stack.pop() ?? 0;
      const q = /^(?:[*+]|\{(\d+)(?:,(\d*))?\})/.exec(s.slice(i + 1));
      const repeated = q !== null && (q[0] === "*" || q[0] === "+" || q[2] === "" || Number(q[2] ?? q[1]) > 1);
      out.push({ open, close: i, repeated });
    }
  }
  return out;
}

/** Named groups inside a copied fragment become plain groups (a name may be used once). */
const unname = (fragment: string) => fragment.replace(/\(\?<(?![=!])\w+>/g, "(?:");

/** Splits a conditional's body at its top-level `|`. */
function splitAlt(body: string): [string, string] {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === "\\") i++;
    else if (inClass) inClass = c !== "]";
    else if (c === "[") inClass = true;
    else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "|" && depth === 0) return [body.slice(0, i), body.slice(i + 1)];
  }
  return [body, ""];
}

/** The strings a group body can match when it is a few literals (`"?`, `a|bc`), else undefined. */
function finiteSet(body: string): string[] | undefined {
  const lit = "(?:[^\\\\()[\\]{}|?*+.^$]|\\\\[^\\w\\s])*";
  const one = new RegExp(`^(${lit.slice(0, -1)})\\?$`).exec(body);
  if (one && one[1] && (one[1].startsWith("\\") ? one[1].length === 2 : one[1].length === 1)) return [one[1], ""];
  const alts = body.replace(/^\(\?:(.*)\)$/, "$1").split("|");
  return alts.every((a) => new RegExp(`^${lit}$`).test(a)) && alts.length <= 4 ? alts : undefined;
}

/**
 * A backreference to a group that matches one of a few literals becomes one alternative per
 * literal, with the literal written at both places: exact, and no check needed. Groups between
 * them are renamed `name__k` in the copies (the engine reads them under their names).
 */
function finiteVariants(s: string, def: Group, ref: Group, name: string): string | undefined {
  const set = finiteSet(s.slice(def.open + name.length + 4, def.close));
  const mid = s.slice(def.close + 1, ref.open);
  if (!set || mid.includes("(?<__c")) return undefined;
  const alts = set.map((v, k) => (k === 0 ? `(?<${name}>${v})${mid}${v}` : `(?<${name}__${k}>${v})${mid.replace(/\(\?<(\w+)>/g, `(?<$1__${k}>`)}${v}`));
  return `(?:${alts.join("|")})`;
}

/** Replaces the constructs of a (JavaScript-syntax) regex with groups and checks. */
export function extractChecks(source: string, compile: (src: string) => RegExp): { source: string; checks: Check[] } {
  let s = source;
  const checks: Check[] = [];
  for (let n = 0; n < 100; n++) {
    const gs = groupsOf(s);
    const g = gs
      .filter((x) => /^\(\?(?:[=!]|<[=!]|\(|P=)/.test(s.slice(x.open, x.open + 4)))
      .sort((a, b) => a.open - b.open)
      .find((x) => !gs.some((y) => y !== x && y.open > x.open && y.close < x.close && /^\(\?(?:[=!]|<[=!]|\(|P=)/.test(s.slice(y.open, y.open + 4))));
    if (!g) return { source: s, checks };
    const exact = rewriteNotStarting(s, g.open, g.close);
    if (exact !== undefined) {
      s = exact;
      continue;
    }
    if (gs.some((y) => y.repeated && y.open < g.open && g.close < y.close) || g.repeated) {
      const enclosing = gs.filter((y) => y.open < g.open && g.close < y.close).sort((a, b) => b.open - a.open)[0];
      const rewritten = /^\(\?[=!]/.test(s.slice(g.open, g.open + 3)) ? rewriteLookahead(s, g.open, g.close, enclosing) : undefined;
      if (rewritten === undefined) throw new CheckError("a lookaround, backreference or conditional inside a repeated group needs backtracking");
      s = rewritten;
      continue;
    }
    const head = s.slice(g.open, g.open + 4);
    const at = `__c${n}`;
    let replacement: string;
    if (head.startsWith("(?P=")) {
      const name = s.slice(g.open + 4, g.close);
      const def = gs.find((x) => s.startsWith(`(?<${name}>`, x.open));
      if (!def || def.repeated || gs.some((y) => y.repeated && y.open < def.open && def.close < y.close)) throw new CheckError(`a backreference to ${name}, which repeats or is not defined`);
      const variants = finiteVariants(s, def, g, name);
      if (variants !== undefined) {
        s = s.slice(0, def.open) + variants + s.slice(g.close + 1);
        continue;
      }
      replacement = `(?<${at}>${unname(s.slice(def.open + name.length + 4, def.close))})`;
      checks.push({ kind: "backref", at, name });
    } else if (head.startsWith("(?(")) {
      const close = s.indexOf(")", g.open + 3);
      const name = s.slice(g.open + 3, close);
      const [yes, no] = splitAlt(s.slice(close + 1, g.close));
      replacement = `(?:(?<${at}y>)${yes}|(?<${at}n>)${no})`;
      checks.push({ kind: "cond", yes: `${at}y`, no: `${at}n`, name });
    } else {
      const behind = head.startsWith("(?<");
      const body = unname(s.slice(g.open + (behind ? 4 : 3), g.close));
      replacement = `(?<${at}>)`;
      checks.push({ kind: behind ? "behind" : "ahead", at, negate: s[g.open + (behind ? 3 : 2)] === "!", re: compile(behind ? `(?:${body})$` : `^(?:${body})`) });
    }
    s = s.slice(0, g.open) + replacement + s.slice(g.close + 1);
  }
  throw new CheckError("too many lookarounds, backreferences or conditionals");
}

/** Whether a match's own path satisfies every check. */
export function passes(checks: readonly Check[], m: RegExpExecArray, text: string): boolean {
  const g = m.groups ?? {};
  const idx = m.indices?.groups ?? {};
  for (const c of checks) {
    if (c.kind === "backref") {
      if (g[c.at] !== undefined && g[c.at] !== g[c.name]) return false;
    } else if (c.kind === "cond") {
      const took = idx[c.yes] !== undefined ? "yes" : idx[c.no] !== undefined ? "no" : undefined;
      if (took !== undefined && (took === "yes") !== (g[c.name] !== undefined)) return false;
    } else {
      const pos = idx[c.at]?.[0];
      if (pos === undefined) continue;
      const ok = c.re.test(c.kind === "ahead" ? text.slice(pos) : text.slice(0, pos));
      if (ok === c.negate) return false;
    }
  }
  return true;
}
