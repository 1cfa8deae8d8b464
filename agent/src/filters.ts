import { REGEX_FLAGS, parseCidr } from "@fleetwall/api";

/** A regex engine that is linear in the input (V8's experimental engine, enabled by the `fleetwall` binary). */
export class LinearRegexError extends Error {
  override name = "LinearRegexError";
}

/** An IPv4 address, or an IPv6 address (possibly ending in an IPv4 quad); validated after matching. */
const HOST = "(?<host>[0-9]{1,3}(?:\\.[0-9]{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]*[0-9A-Fa-f])";

/**
 * Built-in filters, fail2ban style: each line must contain `require` and match one regex, `<HOST>`
 * standing for the offender. Written for fleetwall against the message texts of OpenSSH, nginx
 * and GoToSocial.
 */
export const BUILTIN: Readonly<Record<string, { require?: string; failRegex: string[]; keywords?: string[] }>> = Object.freeze({
  sshd: {
    require: "sshd",
    failRegex: [
      "(?:error: )?PAM: [Aa]uthentication (?:failure|error|failed) for .* from <HOST>(?: via \\S+)?(?: port \\d+)?(?: \\[preauth\\])?\\s*$",
      "User not known to the underlying authentication module for .* from <HOST>(?: port \\d+)?(?: \\[preauth\\])?\\s*$",
      // a user name is attacker-chosen text: the address must be the last "from" before the port/protocol tail
      "Failed (?:password|keyboard-interactive/pam|hostbased|none|gssapi-with-mic|gssapi-keyex) for (?:invalid user )?.*? from <HOST>(?: port \\d+)?(?: on \\S+)?(?: ssh\\d*)?(?::\\s.*)?(?: \\[preauth\\])?\\s*$",
      "Failed publickey for invalid user .*? from <HOST>(?: port \\d+)?(?: on \\S+)?(?: ssh\\d*)?(?::\\s.*)?(?: \\[preauth\\])?\\s*$",
      "ROOT LOGIN REFUSED FROM <HOST>(?: port \\d+)?(?: \\[preauth\\])?\\s*$",
      "[iI](?:llegal|nvalid) user .*? from <HOST>(?: port \\d+)?(?: on \\S+)?(?: \\[preauth\\])?\\s*$",
      "User .+ from <HOST> not allowed because (?:not listed in AllowUsers|listed in DenyUsers|not in any group|none of user's groups are listed in AllowGroups|a group is listed in DenyGroups)(?: port \\d+)?(?: \\[preauth\\])?\\s*$",
      "refused connect from \\S+ \\(<HOST>\\)",
      "Received disconnect from <HOST>(?: port \\d+)?:\\s*3: .*: Auth fail(?: \\[preauth\\])?\\s*$",
      "(?:error: )?maximum authentication attempts exceeded for (?:invalid user )?.* from <HOST>(?: port \\d+)?(?: ssh\\d*)?(?: \\[preauth\\])?\\s*$",
      "Disconnecting (?:invalid |authenticating )?user \\S+ <HOST>(?: port \\d+)?:\\s*(?:Too many authentication failures|Change of username or service not allowed:.*)(?: \\[preauth\\])?\\s*$",
      "Disconnecting: Too many authentication failures for .* from <HOST>(?: port \\d+)?(?: ssh\\d?)?(?: \\[preauth\\])?\\s*$",
    ],
    // a literal each regex needs, in the same order: a line without it skips that regex
    keywords: ["PAM:", "User not known", "Failed ", "Failed publickey", "ROOT LOGIN", "user ", "not allowed because", "refused connect", "Received disconnect", "maximum authentication", "Disconnecting", "Disconnecting:"],
  },
  "nginx-http-auth": {
    require: "client:",
    failRegex: [
      "user \".*\":? (?:password mismatch|was not found in \".*\"), client: <HOST>, server:",
      "no user/password was provided for basic authentication, client: <HOST>, server:",
    ],
  },
  "gotosocial-auth": {
    require: "401",
    failRegex: [
      "\\bstatusCode=401\\b.*\\bpath=\"?/auth/sign_in\\b.*\\bclientIP=\"?<HOST>",
      "\"statusCode\":\\s*401\\b.*\"path\":\\s*\"/auth/sign_in\".*\"clientIP\":\\s*\"<HOST>\"",
      "\"clientIP\":\\s*\"<HOST>\".*\"statusCode\":\\s*401\\b.*\"path\":\\s*\"/auth/sign_in\"",
    ],
  },
});

/** Longest line a filter looks at; the rest of a longer line is ignored (fail2ban does the same). */
export const MAX_LINE = 16 * 1024;

export type Matcher = (line: string) => string | undefined;

/** Compiles a built-in filter and/or fail-regexes into one matcher returning the canonical offender. */
export function compileFilter(filter: string | undefined, failRegex: readonly string[]): Matcher {
  const builtin = filter ? BUILTIN[filter] : undefined;
  if (filter && !builtin) throw new Error(`unknown built-in filter ${filter}`);
  const sources = [...(builtin?.failRegex ?? []), ...failRegex];
  const keywords = [...(builtin?.keywords ?? builtin?.failRegex.map(() => "") ?? []), ...failRegex.map(() => "")];
  const regexes = sources.map((src, i) => ({ re: linear(src), keyword: keywords[i] ?? "" }));
  const require = builtin?.require;
  // attackers repeat: remember the canonical form of the last addresses seen
  const canonical = new Map<string, string | null>();
  const canon = (host: string): string | undefined => {
    let c = canonical.get(host);
    if (c === undefined) {
      try {
        // logs write 192.030.0.6 and mean decimal; a bare parser would read octal
        c = parseCidr(host.includes(":") ? host : host.replace(/(^|\.)0+(\d)/g, "$1$2")).text;
      } catch {
        c = null; // not an address (a host name, a mangled quad): not ours to ban
      }
      if (canonical.size >= 10_000) canonical.clear();
      canonical.set(host, c);
    }
    return c ?? undefined;
  };
  return (input) => {
    const line = input.length > MAX_LINE ? input.slice(0, MAX_LINE) : input;
    if (require && !line.includes(require)) return undefined;
    for (const { re, keyword } of regexes) {
      if (keyword && !line.includes(keyword)) continue;
      const host = re.exec(line)?.groups?.host;
      const c = host ? canon(host) : undefined;
      if (c) return c;
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
  try {
    new RegExp(expanded, "l");
    return new RegExp(expanded);
  } catch (e) {
    const why = (e as Error).message;
    if (/Invalid (regular expression )?flags/.test(why)) {
      throw new LinearRegexError(`the linear-time regex engine is off: run node with ${REGEX_FLAGS.join(" ")}`, { cause: e });
    }
    throw new LinearRegexError(`regex ${JSON.stringify(source)} cannot run in linear time or does not parse: ${why}`, { cause: e });
  }
}
