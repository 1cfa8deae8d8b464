/**
 * fail2ban's configuration files as fail2ban reads them (Python's ConfigParser plus fail2ban's
 * includes): sections, `key = value` with indented continuation lines, `#`/`;` comments, inline
 * `;` comments, `[INCLUDES] before/after`, `.local` files over `.conf` files, `known/` values, and
 * `%(name)s` interpolation. Pure: files come through a reader function.
 */

/** Reads a file's text, or undefined when there is none. */
export type FileReader = (path: string) => string | undefined;

export class Fail2banConfigError extends Error {
  override name = "Fail2banConfigError";
}

type Sections = Map<string, Map<string, string>>;

/** Parses one file's text into sections (option names lower case, as ConfigParser does). */
export function parseIni(text: string): Sections {
  const sections: Sections = new Map();
  let section: Map<string, string> | undefined;
  let key: string | undefined;
  let lines: string[] = [];
  let indent = 0;
  const flush = () => {
    if (section && key !== undefined) {
      while (lines.length && lines[lines.length - 1] === "") lines.pop();
      section.set(key, lines.join("\n"));
    }
    key = undefined;
    lines = [];
  };
  for (const raw of text.split(/\r?\n/)) {
    const full = raw.trim();
    if (full.startsWith("#") || full.startsWith(";")) continue;
    const semi = /(^|\s);/.exec(raw);
    const line = (semi ? raw.slice(0, semi.index) : raw).trim();
    if (!line) {
      if (key !== undefined) lines.push("");
      continue;
    }
    const lead = raw.length - raw.trimStart().length;
    if (key !== undefined && lead > indent) {
      lines.push(line);
      continue;
    }
    flush();
    const head = /^\[([^\]]+)\]$/.exec(line);
    if (head) {
      const name = head[1] as string;
      section = sections.get(name) ?? new Map();
      sections.set(name, section);
      continue;
    }
    const eq = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(line);
    if (!eq || !section) continue;
    key = (eq[1] as string).toLowerCase();
    lines = [eq[2] as string];
    indent = lead;
  }
  flush();
  return sections;
}

const dirOf = (p: string) => p.slice(0, p.lastIndexOf("/"));

/** A merged configuration: files read in fail2ban's order, later values over earlier ones. */
export class Config {
  readonly sections: Sections = new Map();
  readonly files: string[] = [];

  constructor(private readonly read: FileReader) {}

  /** Reads `base.conf` then `base.local`, each with its includes. Returns whether any existed. */
  load(base: string): boolean {
    let any = false;
    for (const f of [`${base}.conf`, `${base}.local`]) any = this.loadFile(f, []) || any;
    return any;
  }

  loadFile(path: string, seen: string[]): boolean {
    if (seen.includes(path)) return false;
    const text = this.read(path);
    if (text === undefined) return false;
    const parsed = parseIni(text);
    const includes = parsed.get("INCLUDES");
    const list = (k: string) => (includes?.get(k) ?? "").split("\n").map((s) => s.trim()).filter(Boolean);
    const resolve = (f: string) => (f.startsWith("/") ? f : `${dirOf(path)}/${f}`);
    for (const f of list("before")) this.loadFile(resolve(f), [...seen, path]);
    this.merge(parsed);
    this.files.push(path);
    for (const f of list("after")) this.loadFile(resolve(f), [...seen, path]);
    return true;
  }

  merge(parsed: Sections): void {
    for (const [name, opts] of parsed) {
      if (name === "INCLUDES") continue;
      const target = this.sections.get(name) ?? new Map<string, string>();
      this.sections.set(name, target);
      for (const [k, v] of opts) {
        const old = target.get(k);
        if (old !== undefined && !k.startsWith("known/")) target.set(`known/${k}`, old);
        target.set(k, v);
      }
    }
  }

  /** The raw value of an option in a section, falling back to [DEFAULT]; `sec/opt` names another section. */
  raw(section: string, option: string): string | undefined {
    const slash = /^([\w-]+)\/(.+)$/.exec(option);
    if (slash?.[1] === "default") return this.sections.get("DEFAULT")?.get(slash[2] as string);
    if (slash && slash[1] !== "known" && this.sections.has(slash[1] as string)) return this.raw(slash[1] as string, slash[2] as string);
    return this.sections.get(section)?.get(option) ?? this.sections.get("DEFAULT")?.get(option) ?? (slash?.[1] === "known" ? this.sections.get("DEFAULT")?.get(slash[2] as string) : undefined);
  }

  /** An option's value with `%(name)s` interpolated (vars first, then the section, then [DEFAULT]). */
  get(section: string, option: string, vars: Readonly<Record<string, string>> = {}, depth = 0): string | undefined {
    const other = this.otherSection(option);
    if (other) return this.get(other[0], other[1], vars, depth);
    const value = vars[option] ?? this.raw(section, option);
    return value === undefined ? undefined : this.interpolate(section, value, vars, depth, option);
  }

  interpolate(section: string, value: string, vars: Readonly<Record<string, string>>, depth = 0, self?: string): string {
    if (depth > 10) throw new Fail2banConfigError(`[${section}] ${self ?? "?"}: interpolation deeper than 10 levels`);
    return value.replace(/%(%|\(([^)]+)\)s)/g, (all, pct: string, name: string | undefined) => {
      if (pct === "%") return "%";
      const n = (name as string).toLowerCase();
      // `%(section/option)s` is interpolated in that section
      const other = this.otherSection(n);
      if (other) return this.interpolate(other[0], this.raw(other[0], other[1]) ?? missing(section, self, name as string), vars, depth + 1, other[1]);
      // an option that names itself means the value it had before this file (fail2ban's known/)
      const v = n === self ? this.raw(section, `known/${n}`) : (vars[n] ?? this.raw(section, n));
      if (v === undefined) throw new Fail2banConfigError(`[${section}] ${self ?? "?"}: %(${name})s is not defined`);
      return this.interpolate(section, v, vars, depth + 1, n === self ? `known/${n}` : n);
    });
  }

  /** `section/option` naming an existing section (not `known/`, `default/`): [section, option]. */
  private otherSection(option: string): [string, string] | undefined {
    const m = /^([\w-]+)\/(.+)$/.exec(option);
    return m && m[1] !== "known" && m[1] !== "default" && this.sections.has(m[1] as string) ? [m[1] as string, m[2] as string] : undefined;
  }

  /** Option names of a section (without [DEFAULT]'s). */
  options(section: string): string[] {
    return [...(this.sections.get(section)?.keys() ?? [])].filter((k) => !k.startsWith("known/"));
  }

  /** Every section name but DEFAULT and INCLUDES, in first-seen order. */
  sectionNames(): string[] {
    return [...this.sections.keys()].filter((s) => s !== "DEFAULT" && s !== "INCLUDES");
  }
}

function missing(section: string, self: string | undefined, name: string): never {
  throw new Fail2banConfigError(`[${section}] ${self ?? "?"}: %(${name})s is not defined`);
}

/** Replaces `<tag>` with option values, innermost first and recursively, as fail2ban does for filters. */
export function substituteTags(value: string, lookup: (tag: string) => string | undefined): string {
  let out = value;
  for (let guard = 0; guard < 1000; guard++) {
    let changed = false;
    out = out.replace(/<([^ <>]+)>/g, (all, tag: string) => {
      const v = lookup(tag);
      if (v === undefined) return all;
      changed = true;
      return v;
    });
    if (!changed) return out;
  }
  throw new Fail2banConfigError(`tags in ${JSON.stringify(value.slice(0, 80))} do not resolve (a tag refers to itself)`);
}
