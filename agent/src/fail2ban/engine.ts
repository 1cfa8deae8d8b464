import { dateFinder, dateTemplates, type FoundDate } from "./date.js";
import { HOST_TAG } from "@fleetwall/api/jail-kind";
import { passes } from "./checks.js";
import { translateRegex, UntranslatableRegex, type Translated } from "./regex.js";

/** A filter in the form a jail carries it (fail2ban tags, JavaScript regex syntax). */
export interface FilterSpec {
  prefRegex?: string;
  failRegex: readonly string[];
  ignoreRegex?: readonly string[];
  datePattern?: string;
  maxLines?: number;
}

/** What a line is, for a fail2ban-style filter. */
export interface FilterMatch {
  /** The offender as logged: `<F-ID>`, else the address or host name the host tag matched. */
  host: string;
  /** The time stamp found in the line (fail2ban cuts it out before matching). */
  date?: FoundDate;
}

interface Compiled {
  re: RegExp;
  checks: Translated["checks"];
  literals: string[];
  /** Has groups named `name__N` (copies of `name`, from a backreference written out). */
  copies: boolean;
  /** The names of its groups, copies by the name they copy: a field no group names is not looked up. */
  names: ReadonlySet<string>;
}

/** A fail-regex with the prefix regex it runs after. */
interface FailRegex extends Compiled {
  matched: Matched;
}

function compile(source: string, multiline: boolean): Compiled {
  let t: Translated;
  try {
    t = translateRegex(source, { multiline });
  } catch (e) {
    // name the regex: a filter has many
    if (e instanceof UntranslatableRegex) throw new UntranslatableRegex(`regex ${JSON.stringify(source.length > 120 ? `${source.slice(0, 120)}…` : source)}: ${e.message}`, { cause: e });
    throw e;
  }
  const names = new Set([...t.source.matchAll(/\(\?<(\w+?)(?:__\d+)?>/g)].map((m) => m[1] as string));
  return { re: new RegExp(t.source, t.flags), checks: t.checks, literals: t.literals, copies: /\(\?<\w+__\d+>/.test(t.source), names };
}

/** Whether the line contains one of the literals (true when there are none). */
function containsAny(line: string, literals: readonly string[]): boolean {
  if (!literals.length) return true;
  for (const l of literals) if (line.includes(l)) return true;
  return false;
}

function run(c: Compiled, text: string): RegExpExecArray | null {
  const m = c.re.exec(text);
  return m && (!c.checks.length || passes(c.checks, m, text)) ? m : null;
}

type Groups = Record<string, string | undefined>;

/**
 * One field of a match: the fail-regex's group, else the prefix regex's, as if the two group objects
 * were merged (`{...pref, ...fail}`); a group left unset takes its first set copy (`ip4__1`, from a
 * backreference written out), in the merged object's key order. No object is built for it.
 */
function field(pref: Groups | undefined, fail: Groups, copies: boolean, name: string): string | undefined {
  const v = name in fail ? fail[name] : pref?.[name];
  if (v !== undefined || !copies) return v;
  for (const g of [pref ?? {}, fail]) {
    for (const k of Object.keys(g)) {
      if (g === fail && pref && k in pref) continue;
      const m = /^(.+)__\d+$/.exec(k);
      const x = k in fail ? fail[k] : pref?.[k];
      if (m && m[1] === name && x !== undefined) return x;
    }
  }
  return undefined;
}

/** What a session needs of a match. */
interface Fields {
  host: string | undefined;
  nofail: boolean;
  mlfid: string | undefined;
  mlfforget: boolean;
}

/** The regexes a match went through: their groups' names, and whether they have copies. */
interface Matched {
  fail: Compiled;
  pref: Compiled | undefined;
}

/** A field of a match; a name none of its regexes has is not looked up (a groups object is a dictionary). */
function get(pref: Groups | undefined, fail: Groups, by: Matched, name: string): string | undefined {
  if (!by.fail.names.has(name) && !by.pref?.names.has(name)) return undefined;
  return field(pref, fail, by.fail.copies || (by.pref?.copies ?? false), name);
}

function fieldsOf(pref: Groups | undefined, fail: Groups, by: Matched): Fields {
  const h = get(pref, fail, by, "fid") ?? get(pref, fail, by, "ip4") ?? get(pref, fail, by, "ip6") ?? get(pref, fail, by, "dns");
  const cidr = get(pref, fail, by, "cidr");
  return {
    host: h !== undefined && cidr !== undefined ? `${h}/${cidr}` : h,
    nofail: get(pref, fail, by, "nofail") !== undefined,
    mlfid: get(pref, fail, by, "mlfid"),
    mlfforget: get(pref, fail, by, "mlfforget") !== undefined,
  };
}

/**
 * The offender of a match, through `<F-MLFID>` sessions as fail2ban keeps them: a failure without an
 * address waits for a line of its session that names one (even a `<F-NOFAIL>` line); `<F-MLFFORGET>`
 * ends the session. Unlike fail2ban, a line naming another address than the session's starts a new
 * session.
 */
function mlfidSessions(): (g: Fields) => string | undefined {
  const sessions = new Map<string, { host?: string; pending: boolean }>();
  return (g: Fields): string | undefined => {
    let host = g.host;
    const nofail = g.nofail;
    const id = g.mlfid;
    if (id === undefined) return nofail ? undefined : host;
    let s = sessions.get(id) ?? { pending: false };
    // a session is its id and its address: a line naming another address starts a new one
    if (host !== undefined && s.host !== undefined && s.host !== host) s = { pending: false };
    if (sessions.size >= 10_000 && !sessions.has(id)) sessions.delete(sessions.keys().next().value as string);
    sessions.set(id, s);
    if (host !== undefined) s.host = host;
    host ??= s.host;
    if (g.mlfforget) sessions.delete(id);
    if (host === undefined) {
      if (!nofail) s.pending = true;
      return undefined;
    }
    if (nofail && !s.pending) return undefined;
    s.pending = false;
    return host;
  };
}

/**
 * Compiles an imported fail2ban filter into a stateful line matcher (multi-line buffers and
 * `<F-MLFID>` sessions span lines). A line costs a `String.includes` per literal unless it can
 * match; the time stamp is looked for only in lines that can. `literals`: a line containing none of
 * them is rejected unchanged (empty: no such set). Throws UntranslatableRegex.
 */
export function compileFail2ban(spec: FilterSpec, options: { journal?: boolean } = {}): ((line: string) => FilterMatch | undefined) & { literals: readonly string[] } {
  const maxLines = Math.max(1, spec.maxLines ?? 1);
  const multi = maxLines > 1;
  if (!spec.failRegex.some((r) => HOST_TAG.test(r)) && !HOST_TAG.test(spec.prefRegex ?? "")) throw new UntranslatableRegex("no fail-regex names the offender (<HOST>, <ADDR>, <F-ID>, …)");
  const pref = spec.prefRegex ? compile(spec.prefRegex, multi) : undefined;
  const fails: FailRegex[] = spec.failRegex.map((r) => {
    const c = compile(r, multi);
    return Object.assign(c, { matched: { fail: c, pref } });
  });
  const ignores = (spec.ignoreRegex ?? []).map((r) => compile(r, multi));
  const templates = options.journal ? "none" : dateTemplates(spec.datePattern);
  const findDate = templates === "none" ? undefined : dateFinder(templates);
  // a cheap test every line must pass: the prefix regex's literal, and one fail-regex's
  const failLits = multi || fails.some((f) => !f.literals.length) ? [] : [...new Set(fails.flatMap((f) => f.literals))];
  const prefLits = multi ? [] : (pref?.literals ?? []);
  const buffer: string[] = [];
  const sessionHost = mlfidSessions();
  let lastDate: FoundDate | undefined;
  const match = (line: string): FilterMatch | undefined => {
    if (!containsAny(line, prefLits) || !containsAny(line, failLits)) return undefined;
    const found = findDate?.(line);
    // a line without a time stamp has the last one's (fail2ban does the same)
    const date = found ?? lastDate;
    lastDate = date;
    let text = !found ? line : found.start === 0 ? line.slice(found.end) : line.slice(0, found.start) + line.slice(found.end);
    if (multi) {
      buffer.push(text);
      if (buffer.length > maxLines) buffer.shift();
      text = buffer.join("\n");
    }
    let prefGroups: Groups | undefined;
    if (pref) {
      const p = run(pref, text);
      if (!p) return undefined;
      prefGroups = p.groups ?? {};
      text = prefGroups.content ?? text;
    }
    for (const f of fails) {
      const m = run(f, text);
      if (!m) continue;
      for (const i of ignores) if (run(i, text)) return undefined;
      if (multi) buffer.length = 0;
      const host = sessionHost(fieldsOf(prefGroups, m.groups ?? {}, f.matched));
      return host === undefined ? undefined : date ? { host, date } : { host };
    }
    return undefined;
  };
  // the set a line is looked for first: the longer shortest literal is the rarer, as a rule
  const shortest = (l: readonly string[]) => Math.min(...l.map((x) => x.length));
  return Object.assign(match, { literals: !failLits.length || (prefLits.length && shortest(prefLits) >= shortest(failLits)) ? prefLits : failLits });
}
