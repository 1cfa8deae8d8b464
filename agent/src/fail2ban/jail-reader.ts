import { cidrProblem, parseCidr } from "@fleetwall/api";
import { Config, type FileReader } from "./config.js";
import { parseFilterSpec, readFilter } from "./filter-reader.js";
import { dateTemplates } from "./date.js";
import { translateRegex } from "./regex.js";

/** Lists a directory's file names, or [] when there is none. */
export type DirLister = (dir: string) => string[];

/** Something of fail2ban's configuration that was not taken over, and why. */
export interface ImportNote {
  jail: string;
  what: string;
  why: string;
}

/** A jail in fleetwall's form (api Jail input). */
export interface ImportedJail {
  name: string;
  filter?: string;
  failRegex?: string[];
  prefRegex?: string;
  ignoreRegex?: string[];
  datePattern?: string;
  maxLines?: number;
  source: { file: string } | { journal: { unit?: string; identifier?: string } };
  maxRetry: number;
  findTime: string;
  banTime: string;
  banTimeIncrement?: { factor: number; max: string };
  ignore: string[];
}

export interface Fail2banImport {
  jails: ImportedJail[];
  /** ignoreip addresses of [DEFAULT]: never banned anywhere (a BanList of type Allow). */
  allow: string[];
  notes: ImportNote[];
}

const SSHD_MODES: Readonly<Record<string, string>> = { normal: "sshd", ddos: "sshd-ddos", extra: "sshd-extra", aggressive: "sshd-aggressive" };
const truthy = (v: string | undefined) => /^(true|yes|on|1)$/i.test((v ?? "").trim());

/** Reads jail.conf, jail.d/*.conf, jail.local, jail.d/*.local, in fail2ban's order. */
export function readJailConfig(read: FileReader, list: DirLister, dir: string): Config {
  const cfg = new Config(read);
  const d = (ext: string) => list(`${dir}/jail.d`).filter((f) => f.endsWith(ext)).sort().map((f) => `${dir}/jail.d/${f}`);
  for (const f of [`${dir}/jail.conf`, ...d(".conf"), `${dir}/jail.local`, ...d(".local")]) cfg.loadFile(f, []);
  return cfg;
}

/** fail2ban's time: seconds (`600`), or with units (`10m`, `1h`, `1d`, `1w`, `1mo`, `1y`, combined). */
export function fail2banSeconds(text: string): number | undefined {
  const t = text.trim().toLowerCase().replace(/\s+/g, "");
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  const units: Record<string, number> = { s: 1, sec: 1, m: 60, min: 60, h: 3600, hour: 3600, d: 86400, day: 86400, w: 604800, week: 604800, mo: 2592000, y: 31536000 };
  let total = 0;
  let rest = t;
  for (let m = /^(\d+(?:\.\d+)?)([a-z]+)/.exec(rest); m; m = /^(\d+(?:\.\d+)?)([a-z]+)/.exec(rest)) {
    const u = units[(m[2] as string).replace(/s$/, "")] ?? units[m[2] as string];
    if (u === undefined) return undefined;
    total += Number(m[1]) * u;
    rest = rest.slice(m[0].length);
  }
  return rest === "" && total > 0 ? total : undefined;
}

const duration = (s: number) => (s % 86400 === 0 ? `${s / 86400}d` : s % 3600 === 0 ? `${s / 3600}h` : s % 60 === 0 ? `${s / 60}m` : `${Math.round(s)}s`);

/** A jail name fleetwall accepts (lower case letters, digits, '-', at most 32). */
const jailName = (n: string) => n.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 32);

/** Imports every enabled jail; what cannot be taken over is in `notes`. Pure. */
export function importFail2ban(read: FileReader, list: DirLister, dir: string): Fail2banImport {
  const cfg = readJailConfig(read, list, dir);
  const out: Fail2banImport = { jails: [], allow: [], notes: [] };
  const ignoreOf = (section: string, jail: string) =>
    (cfg.get(section, "ignoreip", { __name__: jail }) ?? "")
      .split(/[\s,]+/)
      .filter(Boolean)
      .filter((a) => {
        const ok = /^[0-9a-fA-F:.]+(\/\d+)?$/.test(a);
        if (!ok) out.notes.push({ jail, what: `ignoreip ${a}`, why: "a host name: fleetwall does not resolve names; add its addresses" });
        return ok;
      })
      .flatMap((a) => canonicalIgnore(a, jail, out.notes));
  out.allow = ignoreOf("DEFAULT", "DEFAULT");
  for (const section of cfg.sectionNames()) {
    const vars = { __name__: section };
    const get = (o: string) => {
      try {
        return cfg.get(section, o, vars);
      } catch (e) {
        out.notes.push({ jail: section, what: o, why: (e as Error).message });
        return undefined;
      }
    };
    if (!truthy(get("enabled"))) continue;
    try {
      const jail = importJail(section, get, dir, read, out.notes);
      if (!jail) continue;
      const own = ignoreOf(section, section).filter((a) => !out.allow.includes(a));
      out.jails.push({ ...jail, ignore: own });
    } catch (e) {
      out.notes.push({ jail: section, what: "jail", why: (e as Error).message });
    }
  }
  return out;
}

function importJail(section: string, get: (o: string) => string | undefined, dir: string, read: FileReader, notes: ImportNote[]): Omit<ImportedJail, "ignore"> | undefined {
  const name = jailName(section);
  if (name !== section) notes.push({ jail: section, what: "name", why: `renamed ${name}: jail names are lower case letters, digits and '-'` });
  const { name: filterName, options } = parseFilterSpec(get("filter") ?? section);
  const backend = (get("backend") ?? "auto").trim();
  const journal = backend.startsWith("systemd");
  const times = timing(section, get, notes);
  const base = { name, ...times };
  if (filterName === "sshd") {
    const mode = options.mode ?? "normal";
    const builtin = SSHD_MODES[mode];
    if (!builtin) notes.push({ jail: section, what: `mode ${mode}`, why: "not one of sshd's modes; normal used" });
    const source = sourceOf(section, get, journal, "_SYSTEMD_UNIT=sshd.service", notes);
    return source && { ...base, filter: builtin ?? "sshd", source };
  }
  const f = readFilter(read, dir, filterName, { ...options, logtype: journal ? "journal" : (options.logtype ?? "file") });
  const keep = (kind: string, list: string[]) =>
    list.filter((re) => {
      try {
        translateRegex(re, { multiline: f.maxlines > 1 });
        return true;
      } catch (e) {
        notes.push({ jail: section, what: `${kind} ${re.slice(0, 100)}`, why: (e as Error).message });
        return false;
      }
    });
  const failRegex = keep("failregex", f.failregex);
  const prefRegex = f.prefregex === undefined ? [] : keep("prefregex", [f.prefregex]);
  if (!failRegex.length || (f.prefregex !== undefined && !prefRegex.length)) {
    notes.push({ jail: section, what: "jail", why: `filter ${filterName}: no fail-regex could be translated; jail left out` });
    return undefined;
  }
  try {
    dateTemplates(f.datepattern);
  } catch (e) {
    notes.push({ jail: section, what: `datepattern ${f.datepattern ?? ""}`, why: `${(e as Error).message}; jail left out` });
    return undefined;
  }
  const source = sourceOf(section, get, journal, f.journalmatch, notes);
  if (!source) return undefined;
  const ignoreRegex = keep("ignoreregex", f.ignoreregex);
  return {
    ...base,
    source,
    failRegex,
    ...(prefRegex[0] !== undefined ? { prefRegex: prefRegex[0] } : {}),
    ...(ignoreRegex.length ? { ignoreRegex } : {}),
    datePattern: f.datepattern ?? "{DEFAULT}",
    ...(f.maxlines > 1 ? { maxLines: f.maxlines } : {}),
  };
}

function timing(section: string, get: (o: string) => string | undefined, notes: ImportNote[]) {
  const secs = (o: string, fallback: number) => {
    const v = get(o);
    const s = v === undefined ? fallback : fail2banSeconds(v);
    if (s === undefined || s <= 0) {
      notes.push({ jail: section, what: `${o} ${v}`, why: s !== undefined && s < 0 ? "a permanent ban: fleetwall bans for at most its maximum; 4w used" : `not a time; ${duration(fallback)} used` });
      return s !== undefined && s < 0 ? 28 * 86400 : fallback;
    }
    return s;
  };
  const maxRetry = Math.min(1000, Math.max(1, Number(get("maxretry") ?? "5") || 5));
  const out: { maxRetry: number; findTime: string; banTime: string; banTimeIncrement?: { factor: number; max: string } } = {
    maxRetry,
    findTime: duration(secs("findtime", 600)),
    banTime: duration(secs("bantime", 600)),
  };
  if (truthy(get("bantime.increment"))) {
    // fail2ban's default formula doubles each time, times bantime.factor
    const factor = Math.min(100, Math.max(1, 2 * (Number(get("bantime.factor") ?? "1") || 1)));
    const max = get("bantime.maxtime");
    out.banTimeIncrement = { factor, max: duration(max ? (fail2banSeconds(max) ?? 7 * 86400) : 7 * 86400) };
    if (get("bantime.formula") || get("bantime.multipliers")) notes.push({ jail: section, what: "bantime.formula/multipliers", why: `fleetwall escalates by a factor (${factor}) up to a maximum` });
  }
  return out;
}

function sourceOf(section: string, get: (o: string) => string | undefined, journal: boolean, journalmatch: string | undefined, notes: ImportNote[]): ImportedJail["source"] | undefined {
  if (journal) {
    const match = get("journalmatch") ?? journalmatch ?? "";
    const unit = /_SYSTEMD_UNIT=(\S+)/.exec(match)?.[1];
    const identifier = /SYSLOG_IDENTIFIER=(\S+)/.exec(match)?.[1];
    if (!unit && !identifier) {
      notes.push({ jail: section, what: `journalmatch ${match}`, why: "names no _SYSTEMD_UNIT or SYSLOG_IDENTIFIER; jail left out" });
      return undefined;
    }
    if (/\+|\s/.test(match.trim().replace(/^\S+/, ""))) notes.push({ jail: section, what: `journalmatch ${match}`, why: "only the first unit or identifier is read" });
    return { journal: { ...(unit ? { unit } : {}), ...(identifier ? { identifier } : {}) } };
  }
  const paths = (get("logpath") ?? "").split("\n").map((p) => p.trim().replace(/\s+(tail|head)$/, "")).filter(Boolean);
  const file = paths.find((p) => p.startsWith("/") && !/[*?[]/.test(p));
  for (const p of paths) if (p !== file) notes.push({ jail: section, what: `logpath ${p}`, why: /[*?[]/.test(p) ? "a glob: a jail follows one file; name it in jail.local" : "a jail follows one file" });
  if (!file) notes.push({ jail: section, what: "logpath", why: "no single log file; jail left out" });
  return file ? { file } : undefined;
}

/** An ignoreip as fleetwall takes it: the network of `127.0.0.1/8` is written 127.0.0.0/8 (with a note); nonsense is dropped with one. */
function canonicalIgnore(a: string, jail: string, notes: Fail2banImport["notes"]): string[] {
  let text: string;
  try {
    text = parseCidr(a).text;
  } catch {
    notes.push({ jail, what: `ignoreip ${a}`, why: "not an address or CIDR" });
    return [];
  }
  if (cidrProblem(a)) notes.push({ jail, what: `ignoreip ${a}`, why: `written as ${text}, the network fail2ban means` });
  return [text];
}
