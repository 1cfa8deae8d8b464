import { cidrProblem, parseCidr } from "@fleetwall/api";
import { Config, type FileReader } from "./config.js";
import { parseFilterSpec, readFilter } from "./filter-reader.js";
import { dateTemplates } from "./date.js";
import { translatableFilter } from "./translatable.js";
import { timing, unreadSettings } from "./jail-settings.js";

export { fail2banSeconds } from "./jail-settings.js";

/** Lists a directory's file names, or [] when there is none. */
export type DirLister = (dir: string) => string[];

/** Something of fail2ban's configuration that was not taken over, and why. */
export interface ImportNote {
  /** converted: taken, in another form; note: taken, but it behaves otherwise; not imported (the default): left out. */
  kind?: "converted" | "note" | "not imported";
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

/** A jail name fleetwall accepts (lower case letters, digits, '-', at most 32). */
const jailName = (n: string) => n.toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 32);

/**
 * Imports every enabled jail; what cannot be taken over is in `notes`. Pure.
 *
 * A jail's ignoreip replaces [DEFAULT]'s in fail2ban. The addresses every imported jail ignores
 * become `allow` (a fleet-wide Allow BanList); the rest of each jail's set goes on its `ignore`.
 */
export function importFail2ban(read: FileReader, list: DirLister, dir: string): Fail2banImport {
  const cfg = readJailConfig(read, list, dir);
  const out: Fail2banImport = { jails: [], allow: [], notes: [] };
  const names = new Set<string>();
  const ignoreOf = (section: string) =>
    (cfg.get(section, "ignoreip", { __name__: section }) ?? "")
      .split(/[\s,]+/)
      .filter(Boolean)
      .filter((a) => {
        const ok = /^[0-9a-fA-F:.]+(\/\d+)?$/.test(a);
        if (!ok) names.add(a);
        return ok;
      })
      .flatMap((a) => canonicalIgnore(a, section, out.notes));
  const ignores: string[][] = [];
  const imported: { section: string; get: (o: string) => string | undefined }[] = [];
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
      ignores.push(ignoreOf(section));
      imported.push({ section, get });
      out.jails.push({ ...jail, ignore: [] });
    } catch (e) {
      out.notes.push({ jail: section, what: "jail", why: (e as Error).message });
    }
  }
  out.allow = ignores.length ? (ignores[0] as string[]).filter((a) => ignores.every((set) => set.includes(a))) : [];
  out.jails.forEach((j, i) => (j.ignore = (ignores[i] as string[]).filter((a) => !out.allow.includes(a))));
  out.notes.push(...replacedIgnores(cfg, imported.map((i) => i.section), ignores));
  if (out.allow.length) out.notes.push({ kind: "converted", jail: "DEFAULT", what: "ignoreip", why: `addresses every imported jail ignores are a fleet-wide Allow BanList (never banned by any jail, imported or not)${out.jails.some((j) => j.ignore.length) ? "; the others are on each jail's ignore" : ""}` });
  for (const n of names) out.notes.push({ jail: "DEFAULT", what: `ignoreip ${n}`, why: "a host name: fleetwall does not resolve names; add its addresses" });
  out.notes.push(...unreadSettings(imported));
  out.notes = groupNotes(out.notes);
  return out;
}

/** Jails whose own ignoreip replaces [DEFAULT]'s (fail2ban does not add the two): what of [DEFAULT]'s they do not ignore. */
function replacedIgnores(cfg: Config, sections: readonly string[], ignores: readonly string[][]): ImportNote[] {
  const scratch: ImportNote[] = [];
  const defaults = (cfg.get("DEFAULT", "ignoreip", { __name__: "DEFAULT" }) ?? "").split(/[\s,]+/).filter((a) => /^[0-9a-fA-F:.]+(\/\d+)?$/.test(a)).flatMap((a) => canonicalIgnore(a, "DEFAULT", scratch));
  return sections.flatMap((section, i) => {
    if (!cfg.options(section).includes("ignoreip")) return [];
    const own = ignores[i] ?? [];
    const dropped = defaults.filter((a) => !own.includes(a));
    if (!dropped.length) return [];
    return [{ kind: "note" as const, jail: section, what: "ignoreip", why: `the jail's own ignoreip replaces [DEFAULT]'s, as in fail2ban: this jail does not ignore ${dropped.join(", ")}` }];
  });
}

/** The same note for several jails (a [DEFAULT] setting they inherit) as one note naming them all. */
function groupNotes(notes: readonly ImportNote[]): ImportNote[] {
  const byText = new Map<string, ImportNote>();
  for (const n of notes) {
    const k = `${n.kind ?? ""}\u0000${n.what}\u0000${n.why}`;
    const g = byText.get(k);
    if (g) g.jail = `${g.jail}, ${n.jail}`;
    else byText.set(k, { ...n });
  }
  return [...byText.values()];
}

function importJail(section: string, get: (o: string) => string | undefined, dir: string, read: FileReader, notes: ImportNote[]): Omit<ImportedJail, "ignore"> | undefined {
  const name = jailName(section);
  if (name !== section) notes.push({ kind: "converted", jail: section, what: "name", why: `renamed ${name}: jail names are lower case letters, digits and '-'` });
  const { name: filterName, options } = parseFilterSpec(get("filter") ?? section);
  const backend = (get("backend") ?? "auto").trim();
  const journal = backend.startsWith("systemd");
  const times = timing(section, get, notes);
  const base = { name, ...times };
  if (filterName === "sshd") {
    const mode = options.mode ?? "normal";
    const builtin = SSHD_MODES[mode];
    if (!builtin) notes.push({ kind: "converted", jail: section, what: `mode ${mode}`, why: "not one of sshd's modes; normal used" });
    const source = sourceOf(section, get, journal, "_SYSTEMD_UNIT=sshd.service", notes);
    return source && { ...base, filter: builtin ?? "sshd", source };
  }
  if (filterName === "recidive") {
    notes.push({ jail: section, what: "jail", why: "recidive reads fail2ban's own log, which stops being written once fleetwall replaces fail2ban; left out: set banTimeIncrement on the jails (repeat offenders get longer bans)" });
    return undefined;
  }
  const f = readFilter(read, dir, filterName, { ...options, logtype: journal ? "journal" : (options.logtype ?? "file") });
  const t = translatableFilter(f);
  for (const l of t.leftOut) notes.push({ jail: section, ...l });
  if (!t.usable) {
    notes.push({ jail: section, what: "jail", why: `filter ${filterName}: no fail-regex could be translated; jail left out` });
    return undefined;
  }
  const { failregex: failRegex, ignoreregex: ignoreRegex } = t.filter;
  const prefRegex = t.filter.prefregex === undefined ? [] : [t.filter.prefregex];
  try {
    dateTemplates(f.datepattern);
  } catch (e) {
    notes.push({ jail: section, what: `datepattern ${f.datepattern ?? ""}`, why: `${(e as Error).message}; jail left out` });
    return undefined;
  }
  const source = sourceOf(section, get, journal, f.journalmatch, notes);
  if (!source) return undefined;
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
  // a glob in the file name is followed (every matching file); one in a directory is not
  const file = paths.find((p) => p.startsWith("/") && !/[*?[]/.test(p.slice(0, p.lastIndexOf("/"))));
  for (const p of paths) if (p !== file) notes.push({ jail: section, what: `logpath ${p}`, why: /[*?[]/.test(p) ? "a glob in a directory name: a jail follows files of one directory; name it in jail.local" : "a jail follows one path (a file, or a glob in the file name)" });
  if (!file) notes.push({ jail: section, what: "logpath", why: "no log file; jail left out" });
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
  if (cidrProblem(a)) notes.push({ kind: "converted", jail, what: `ignoreip ${a}`, why: `written as ${text}, the network fail2ban means` });
  return [text];
}
