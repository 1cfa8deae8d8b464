import { parseCidr } from "@fleetwall/api/cidr";
import { isFail2banJail } from "@fleetwall/api/jail-kind";
import { REGEX_FLAGS } from "@fleetwall/api/version";
import { compileFail2ban, type FilterSpec } from "./fail2ban/engine.js";
import { gotosocialAuthFilter, nginxAuthFilter, type HttpFinding } from "./http-filters.js";
import { sshdFilter, type SshdMode } from "./sshd-filter.js";

import { detachedCopy } from "./line-scan.js";

export { scanBytes, scanReader } from "./line-scan.js";

/** A regex engine that is linear in the input (V8's experimental engine, enabled by the `fleetwall` binary). */
export class LinearRegexError extends Error {
  override name = "LinearRegexError";
}

/** An IPv4 address, or an IPv6 address (possibly ending in an IPv4 quad); validated after matching. */
const HOST = "(?<host>[0-9]{1,3}(?:\\.[0-9]{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]*[0-9A-Fa-f])";

/**
 * Built-in single-line filters, each parsing its server's line format (./http-filters.ts): the
 * literal every failure line contains, and a maker of the parser. sshd's filter follows sessions
 * across lines (./sshd-filter.ts).
 */
export const BUILTIN: Readonly<Record<string, { require: string; make: () => (line: string) => HttpFinding }>> = Object.freeze({
  "nginx-http-auth": { require: "client:", make: nginxAuthFilter },
  "gotosocial-auth": { require: "401", make: gotosocialAuthFilter },
});

/** Longest line a filter looks at; the rest of a longer line is ignored (fail2ban does the same). */
export const MAX_LINE = 16 * 1024;

/**
 * A line's offender, or undefined. `literals`, when given: a line that contains none of them is
 * never a match and changes no state, so a reader of a whole log may skip it (./line-scan.ts).
 */
export type Matcher = ((line: string) => string | undefined) & { literals?: readonly string[] };

const SSHD_MODES: Readonly<Record<string, SshdMode>> = { sshd: "normal", "sshd-ddos": "ddos", "sshd-extra": "extra", "sshd-aggressive": "aggressive" };

/** The names of the built-in filters. */
export const BUILTIN_NAMES: readonly string[] = [...Object.keys(SSHD_MODES), ...Object.keys(BUILTIN)];

/** What a jail's filter is made of (a JailIR or a Jail). */
export interface JailFilter extends Partial<FilterSpec> {
  filter?: string | undefined;
  failRegex?: readonly string[];
}

export interface FilterOptions {
  /** Lines come from the journal (no time stamp in them). */
  journal?: boolean;
  /** Called for a line naming two candidate sources (sshd, nginx, GoToSocial): no one's failure. */
  onAmbiguous?: () => void;
}

/**
 * Compiles a built-in filter and/or fail-regexes into one matcher returning the canonical offender
 * address. A matcher is stateful (sshd sessions span lines): feed one log's lines to it in order.
 * A jail with fail2ban's fields (prefRegex, ignoreRegex, datePattern, maxLines) is matched as
 * fail2ban matches (./fail2ban/engine.ts).
 */
export function compileFilter(filter: string | undefined | JailFilter, failRegex: readonly string[] = [], options: FilterOptions = {}): Matcher {
  const find = compileFinder(filter, failRegex, options);
  const canonical = canonicalizer();
  return (line) => {
    const host = find(line);
    return host === undefined ? undefined : canonical(host);
  };
}

/**
 * Like compileFilter, but returns the offender as logged: an address, or a host name where a
 * filter names one as fail2ban's do (`jail test` shows them; jails ban only addresses).
 */
export function compileFinder(spec: string | undefined | JailFilter, regexes: readonly string[] = [], options: FilterOptions = {}): Matcher {
  const jail: JailFilter = typeof spec === "object" ? spec : { filter: spec, failRegex: regexes };
  if (isFail2banJail(jail)) {
    const match = compileFail2ban({ ...jail, failRegex: jail.failRegex ?? [] }, { journal: options.journal ?? false });
    return Object.assign((input: string) => match(input.length > MAX_LINE ? input.slice(0, MAX_LINE) : input)?.host, { literals: match.literals });
  }
  const filter = jail.filter;
  const failRegex = jail.failRegex ?? [];
  const mode = filter ? SSHD_MODES[filter] : undefined;
  const builtin = filter && !mode ? BUILTIN[filter] : undefined;
  if (filter && !mode && !builtin) throw new Error(`unknown built-in filter ${filter}`);
  const sshd = mode ? sshdFilter({ mode, ...(options.onAmbiguous ? { onAmbiguous: options.onAmbiguous } : {}) }) : undefined;
  const parse = builtin?.make();
  const others = failRegex.length ? compileRegexes(failRegex) : undefined;
  const matcher = (input: string) => {
    const line = input.length > MAX_LINE ? input.slice(0, MAX_LINE) : input;
    const found = parse?.(line);
    if (found?.kind === "ambiguous") options.onAmbiguous?.();
    return sshd?.(line)?.host ?? (found?.kind === "failure" ? found.host : undefined) ?? others?.(line);
  };
  // sshd's program tag, a built-in's literal: a line without it is not a failure (./sshd-syslog.ts)
  if (others) return matcher;
  return sshd ? Object.assign(matcher, { literals: ["sshd"] }) : builtin ? Object.assign(matcher, { literals: [builtin.require] }) : matcher;
}

/**
 * Returns a function giving the canonical text of an address as logs write it, or undefined for
 * anything else (host names, mangled quads: not ours to ban). Attackers repeat, so it remembers
 * the last addresses it saw.
 */
export function canonicalizer(): (host: string) => string | undefined {
  const seen = new Map<string, string | null>();
  return (host) => {
    let c = seen.get(host);
    if (c === undefined) {
      try {
        // logs write 192.030.0.6 and mean decimal; a bare parser would read octal
        c = parseCidr(host.includes(":") ? host : host.replace(/(^|\.)0+(\d)/g, "$1$2")).text;
      } catch {
        c = null;
      }
      if (seen.size >= 10_000) seen.clear();
      // a copy: the key would otherwise keep alive the block of the log it was cut from
      seen.set(detachedCopy(host), c);
    }
    return c ?? undefined;
  };
}

function compileRegexes(failRegex: readonly string[]): Matcher {
  const regexes = failRegex.map(linear);
  const canonical = canonicalizer();
  return (line) => {
    for (const re of regexes) {
      const host = re.exec(line)?.groups?.host;
      // a user regex may match a non-address where the line has one further on: try the next regex
      if (host && canonical(host)) return host;
    }
    return undefined;
  };
}

/**
 * Compiles a fail-regex with `<HOST>`. It must be one V8's linear-time engine can run (no
 * backreferences, no lookaround): it runs on the fast backtracking engine, and V8 switches a match
 * to the linear engine once it backtracks too much (the flags the `fleetwall` binary sets), so a
 * hostile line costs linear time. Throws a LinearRegexError saying why a regex is refused.
 */
export function linear(source: string): RegExp {
  if (!source.includes("<HOST>")) throw new LinearRegexError(`regex ${JSON.stringify(source)} has no <HOST>`);
  const expanded = source.replace("<HOST>", HOST);
  let re: RegExp;
  try {
    re = new RegExp(expanded);
  } catch (e) {
    throw new LinearRegexError(`regex ${JSON.stringify(source)} does not parse: ${(e as Error).message}`, { cause: e });
  }
  try {
    new RegExp(expanded, "l");
  } catch (e) {
    const why = (e as Error).message;
    if (/Invalid (regular expression )?flags/.test(why)) {
      throw new LinearRegexError(`the linear-time regex engine is off: run node with ${REGEX_FLAGS.join(" ")}`, { cause: e });
    }
    throw new LinearRegexError(`regex ${JSON.stringify(source)} cannot run in linear time (backreferences, lookaround): ${why}`, { cause: e });
  }
  return re;
}
