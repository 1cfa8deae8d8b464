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
  return { re: new RegExp(t.source, t.flags), checks: t.checks, literals: t.literals };
}

function run(c: Compiled, text: string): RegExpExecArray | null {
  const m = c.re.exec(text);
  return m && (!c.checks.length || passes(c.checks, m, text)) ? m : null;
}

/** Groups of a copied alternative (`ip4__1`, from a backreference written out) under their names. */
function merged(g: Record<string, string | undefined>): Record<string, string | undefined> {
  for (const k of Object.keys(g)) {
    const m = /^(.+)__\d+$/.exec(k);
    if (m && g[k] !== undefined && g[m[1] as string] === undefined) g[m[1] as string] = g[k];
  }
  return g;
}

function hostOf(g: Record<string, string | undefined>): string | undefined {
  const h = g.fid ?? g.ip4 ?? g.ip6 ?? g.dns;
  return h !== undefined && g.cidr !== undefined ? `${h}/${g.cidr}` : h;
}

/**
 * The offender of a match, through `<F-MLFID>` sessions as fail2ban keeps them: a failure without an
 * address waits for a line of its session that names one (even a `<F-NOFAIL>` line); `<F-MLFFORGET>`
 * ends the session. Unlike fail2ban, a line naming another address than the session's starts a new
 * session.
 */
function mlfidSessions(): (g: Record<string, string | undefined>) => string | undefined {
  const sessions = new Map<string, { host?: string; pending: boolean }>();
  return (g: Record<string, string | undefined>): string | undefined => {
    let host = hostOf(g);
    const nofail = g.nofail !== undefined;
    const id = g.mlfid;
    if (id === undefined) return nofail ? undefined : host;
    let s = sessions.get(id) ?? { pending: false };
    // a session is its id and its address: a line naming another address starts a new one
    if (host !== undefined && s.host !== undefined && s.host !== host) s = { pending: false };
    if (sessions.size >= 10_000 && !sessions.has(id)) sessions.delete(sessions.keys().next().value as string);
    sessions.set(id, s);
    if (host !== undefined) s.host = host;
    host ??= s.host;
    if (g.mlfforget !== undefined) sessions.delete(id);
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
 * match; the time stamp is looked for only in lines that can. Throws UntranslatableRegex.
 */
export function compileFail2ban(spec: FilterSpec, options: { journal?: boolean } = {}): (line: string) => FilterMatch | undefined {
  const maxLines = Math.max(1, spec.maxLines ?? 1);
  const multi = maxLines > 1;
  if (!spec.failRegex.some((r) => HOST_TAG.test(r)) && !HOST_TAG.test(spec.prefRegex ?? "")) throw new UntranslatableRegex("no fail-regex names the offender (<HOST>, <ADDR>, <F-ID>, …)");
  const pref = spec.prefRegex ? compile(spec.prefRegex, multi) : undefined;
  const fails = spec.failRegex.map((r) => compile(r, multi));
  const ignores = (spec.ignoreRegex ?? []).map((r) => compile(r, multi));
  const templates = options.journal ? "none" : dateTemplates(spec.datePattern);
  const findDate = templates === "none" ? undefined : dateFinder(templates);
  // a cheap test every line must pass: the prefix regex's literal, and one fail-regex's
  const failLits = multi || fails.some((f) => !f.literals.length) ? [] : [...new Set(fails.flatMap((f) => f.literals))];
  const prefLits = multi ? [] : (pref?.literals ?? []);
  const buffer: string[] = [];
  const sessionHost = mlfidSessions();
  let lastDate: FoundDate | undefined;
  return (line) => {
    if (prefLits.length && !prefLits.some((l) => line.includes(l))) return undefined;
    if (failLits.length && !failLits.some((l) => line.includes(l))) return undefined;
    const found = findDate?.(line);
    // a line without a time stamp has the last one's (fail2ban does the same)
    const date = found ?? lastDate;
    lastDate = date;
    let text = found ? line.slice(0, found.start) + line.slice(found.end) : line;
    if (multi) {
      buffer.push(text);
      if (buffer.length > maxLines) buffer.shift();
      text = buffer.join("\n");
    }
    let groups: Record<string, string | undefined> = {};
    if (pref) {
      const p = run(pref, text);
      if (!p) return undefined;
      groups = { ...p.groups };
      text = groups.content ?? text;
    }
    for (const f of fails) {
      const m = run(f, text);
      if (!m) continue;
      if (ignores.some((i) => run(i, text))) return undefined;
      const g = merged({ ...groups, ...m.groups });
      if (multi) buffer.length = 0;
      const host = sessionHost(g);
      return host === undefined ? undefined : { host, ...(date ? { date } : {}) };
    }
    return undefined;
  };
}
