import { Config, Fail2banConfigError, substituteTags, type FileReader } from "./config.js";

/** A fail2ban filter as fail2ban resolves it for one jail: interpolated, tags substituted. */
export interface Fail2banFilter {
  name: string;
  prefregex?: string;
  failregex: string[];
  ignoreregex: string[];
  datepattern?: string;
  maxlines: number;
  journalmatch?: string;
  /** The files read, in order. */
  files: string[];
}

/** `sshd[mode=aggressive, publickey="any"]` → name and options. */
export function parseFilterSpec(spec: string): { name: string; options: Record<string, string> } {
  const m = /^\s*([^[\s]+)\s*(?:\[(.*)\])?\s*$/s.exec(spec);
  if (!m) throw new Fail2banConfigError(`filter ${JSON.stringify(spec)} does not parse`);
  const options: Record<string, string> = {};
  const re = /\s*([\w.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([^,]*))\s*,?/gy;
  const body = m[2] ?? "";
  for (let o = re.exec(body); o && o[0]; o = re.exec(body)) options[(o[1] as string).toLowerCase()] = (o[2] ?? o[3] ?? o[4] ?? "").trim();
  return { name: m[1] as string, options };
}

const LIST = (v: string | undefined) => (v ?? "").split("\n").map((s) => s.trim()).filter(Boolean);

/**
 * Reads `filter.d/<name>.conf` and `.local` (with includes) under `dir`, with the jail's options
 * (`mode`, `logtype`, …) over the filter's `[Init]` values, as fail2ban's FilterReader does.
 */
export function readFilter(read: FileReader, dir: string, name: string, initOptions: Record<string, string> = {}): Fail2banFilter {
  const cfg = new Config(read);
  if (!cfg.load(`${dir}/filter.d/${name}`)) throw new Fail2banConfigError(`no filter ${name} in ${dir}/filter.d`);
  const init: Record<string, string> = {};
  for (const [k, v] of Object.entries(initOptions)) init[k.toLowerCase()] = v;
  for (const opt of cfg.options("Init")) {
    const v = cfg.get("Init", opt, init);
    if (v === undefined) continue;
    init[`known/${opt}`] ??= v;
    init[opt] ??= v;
  }
  const def = (opt: string) => {
    try {
      return cfg.get("Definition", opt, init);
    } catch {
      return undefined;
    }
  };
  const lookup = (tag: string): string | undefined => {
    if (/^\/?F-|^(?:HOST|ADDR|IP4|IP6|DNS|CIDR|SUBNET|SKIPLINES)$/.test(tag)) return undefined; // fail2ban's own tags
    // option names are lower case; a section's name (`L_catalina/failregex`) keeps its case
    const slash = tag.indexOf("/");
    const key = slash < 0 ? tag.toLowerCase() : tag.slice(0, slash + 1) + tag.slice(slash + 1).toLowerCase();
    if (key.includes("?")) return undefined;
    return init[key] ?? def(key);
  };
  const opt = (o: string) => {
    const v = cfg.get("Definition", o, init);
    return v === undefined ? undefined : substituteTags(v, lookup);
  };
  const maxlines = Number(opt("maxlines") ?? "1");
  const prefregex = opt("prefregex")?.trim();
  const datepattern = opt("datepattern")?.trim();
  const journalmatch = opt("journalmatch")?.trim();
  return {
    name,
    ...(prefregex ? { prefregex } : {}),
    failregex: LIST(opt("failregex")),
    ignoreregex: LIST(opt("ignoreregex")),
    ...(datepattern ? { datepattern } : {}),
    maxlines: Number.isFinite(maxlines) && maxlines > 0 ? maxlines : 1,
    ...(journalmatch ? { journalmatch } : {}),
    files: cfg.files,
  };
}
