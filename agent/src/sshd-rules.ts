/**
 * The rules of the built-in sshd filter (./sshd-filter.ts): what one line of an sshd session means,
 * in fail2ban's order, each rule's regex run on V8's linear-time engine; `Failed … for` lines are
 * parsed by OpenSSH's format (./sshd-filter-failed.ts), and a line naming two candidate sources is
 * ambiguous: no one's failure (docs/detection.md).
 *
 * Two paths find a line's rule, with the same result (sshd-rules.test.ts compares them on generated
 * lines, hostile user names among them): `findReference` tries every rule in order and matches with
 * indices; `findFast`, the one the filter runs, tries only the rules whose match can start with the
 * line's first character (most sshd lines match none: no string is made for them), and matches
 * without indices.
 */

import { parseFailedFor } from "./sshd-filter-failed.js";
import { firstChars, leadOf, withAfter } from "./sshd-rule-source.js";

export type SshdMode = "normal" | "ddos" | "extra" | "aggressive";

/** What one line means for its session. */
export interface Rule {
  /** The rule's regex with indices (`d`): the reference path (`findReference`). */
  readonly re: RegExp;
  /**
   * The same regex without indices, and with the rest of the line after the address captured
   * (`after`), so that where the address ends is known without indices: the fast path.
   */
  fast: RegExp;
  /** The characters a line this rule matches can start with; undefined: any. */
  first: string | undefined;
  /** A cheap test of the literal the regex starts with, so most rules skip a line without running. */
  lead: (content: string) => boolean;
  /** Not a failure on its own; remembers the address and user. */
  nofail?: true;
  /** Ends the session. */
  forget?: true;
  /** A successful login. */
  gained?: true;
  /**
   * For a line whose user name directly precedes the address (`… user <name> <addr> port <n> …`):
   * the address and the rest of the line by sshd's format, sticky, tried from the end (`fromEnd`).
   */
  tail?: RegExp;
}

const IPV4 = "[0-9]{1,3}(?:\\.[0-9]{1,3}){3}";
const IPV6 = "[0-9A-Fa-f]*:[0-9A-Fa-f:.]*[0-9A-Fa-f]";
/** An address, or a host name (found like fail2ban does, never banned: fleetwall does not resolve names). */
const HOST = `(?<host>${IPV4}|${IPV6}|[\\w.-]*\\w)`;
const SUFF = "(?: (?:port \\d+|on \\S+|\\[preauth\\])){0,3}\\s*$";
const ON_PORT = "(?: (?:port \\d+|on \\S+)){0,2}";
const AUTHNG_USER = "(?: (?:invalid|authenticating) user (?<user>\\S+|.*?))?";
const ALG = "(?:\\w+ ){0,2}\\w+";
/** After the address; the rest holds client-chosen names, and the rule's regex checks the line's end once. */
const CHANGE_AT = "<HOST>" + ON_PORT + ":\\s*Change of username or service not allowed:";
const CHANGE_TAIL = CHANGE_AT + "\\s*.*\\[preauth\\]\\s*$";
const EXTRA_TAIL = "<HOST>" + ON_PORT + " \\[preauth\\]\\s*$";

type Flags = Omit<Rule, "re" | "fast" | "first" | "lead" | "tail">;

/**
 * Where the user name and the address are decides (`judged`): the reference path matches with
 * indices (`d`, made when first used: only tests run it); the fast path without, knowing where the
 * address ends by the length of what follows it (`after`).
 */
function rule(source: string, flags: Flags = {}): Rule {
  let re: RegExp | undefined;
  return {
    get re() {
      re ??= new RegExp(source.replaceAll("<HOST>", HOST), "d");
      return re;
    },
    fast: new RegExp(withAfter(source).replaceAll("<HOST>", HOST)),
    first: firstChars(source),
    lead: leadOf(source),
    ...flags,
  };
}

/** A rule whose user name directly precedes the address; `tail` is the format from the address on. */
const userRule = (source: string, tail: string, flags: Flags = {}): Rule => Object.assign(rule(source, flags), { tail: new RegExp(tail.replaceAll("<HOST>", HOST), "y") });

/** The lines every mode knows, in fail2ban's order; `Failed <method> for` lines are handled in code. */
const COMMON_HEAD: Rule[] = [
  rule("^[aA]uthentication (?:failure|error|failed) for (?<user>.*) from <HOST>(?: via \\S+)?" + SUFF),
  rule("^User not known to the underlying authentication module for (?<user>.*) from <HOST>" + SUFF),
];
const COMMON_TAIL: Rule[] = [
  rule("^(?<user>ROOT) LOGIN REFUSED FROM <HOST>"),
  rule("^[iI](?:llegal|nvalid) user (?<user>.*?) from <HOST>" + SUFF),
  rule("^User (?<user>\\S+|.*?) from <HOST> not allowed because (?:not listed in AllowUsers|listed in DenyUsers|not in any group)" + SUFF),
  rule("^refused connect from \\S+ \\(<HOST>\\)"),
  rule("^Received disconnect from <HOST>" + ON_PORT + ":\\s*3: .*: Auth fail" + SUFF, { forget: true }),
  rule("^User (?<user>\\S+|.*?) from <HOST> not allowed because (?:a group is listed in DenyGroups|none of user's groups are listed in AllowGroups)" + SUFF),
  rule("^pam_[a-z]+\\(sshd:auth\\):\\s+authentication failure;(?:\\s+(?:(?:logname|e?uid|tty)=\\S*)){0,4}\\s+ruser=(?<altuser>\\S*)\\s+rhost=<HOST>(?:\\s+user=(?<user>\\S*))?" + SUFF, { nofail: true }),
  rule("^maximum authentication attempts exceeded for (?<user>.*) from <HOST>" + ON_PORT + "(?: ssh\\d*)?" + SUFF),
  rule("^User (?<user>\\S+|.*?) not allowed because account is locked" + SUFF),
  userRule("^Disconnecting(?: from)? (?:invalid|authenticating) user (?<user>\\S+) " + CHANGE_TAIL, CHANGE_AT, { forget: true }),
  rule("^Disconnecting: Too many authentication failures(?: for (?<user>\\S+|.*?))?" + SUFF),
  rule("^Received disconnect from <HOST>" + ON_PORT + ":\\s*11:", { nofail: true, forget: true }),
];
const CLOSED = "^(?:Connection (?:closed|reset)|Disconnected) (?:by|from)" + AUTHNG_USER + " ";
const closed = (tail: string, flags: Flags): Rule => userRule(CLOSED + tail, tail, flags);
const OTHER: Record<SshdMode, Rule[]> = {
  normal: [closed("<HOST>(?:" + SUFF + "|\\s*$)", { nofail: true, forget: true })],
  ddos: [
    closed("<HOST>" + ON_PORT + "\\s+\\[preauth\\]\\s*$", { forget: true }),
    closed("<HOST>(?:" + ON_PORT + "|\\s*)$", { nofail: true, forget: true }),
  ],
  extra: [userRule("^Disconnected(?: from)? (?:invalid|authenticating) user (?<user>\\S+|.*?) " + EXTRA_TAIL, EXTRA_TAIL, { forget: true })],
  aggressive: [],
};
OTHER.aggressive = OTHER.ddos;
/**
 * Every method OpenSSH logs a login with (auth.c: `Accepted %s%s%s for %s%.100s from %.200s port %d
 * ssh2%s%s`, the method and `/submethod`): password, publickey, keyboard-interactive/pam,
 * keyboard-interactive/bsdauth, gssapi-with-mic, hostbased, none. fail2ban's `\w+` misses those with
 * '-' or '/', which left a pending failure on the pid for the login's address (docs/detection.md).
 */
const ACCEPTED = rule("^Accepted [\\w-]+(?:/[\\w-]+)? for (?<user>\\S+) from <HOST>(?:\\s|$)", { forget: true, gained: true });
const DDOS: Rule[] = [
  rule("^Did not receive identification string from <HOST>", { forget: true }),
  rule("^kex_exchange_identification: (?:read: )?(?:[Cc]lient sent invalid protocol identifier|[Cc]onnection (?:closed by remote host|reset by peer))"),
  rule("^Bad protocol version identification '.*' from <HOST>", { forget: true }),
  rule("^SSH: Server;Ltype: (?:Authname|Version|Kex);Remote: <HOST>-\\d+;[A-Z]\\w+:", { nofail: true }),
  rule("^Read from socket failed: Connection reset by peer", { forget: true }),
  rule("^banner exchange: Connection from <HOST>" + ON_PORT + ": invalid format", { forget: true }),
];
const EXTRA: Rule[] = [
  rule("^Received disconnect from <HOST>" + ON_PORT + ":\\s*14: No(?: supported)? authentication methods available", { forget: true }),
  rule("^Unable to negotiate with <HOST>" + ON_PORT + ": no matching " + ALG + " found\\.", { forget: true }),
  rule("^Unable to negotiate a \\w+"),
  rule("^no matching " + ALG + " found:"),
];
const MODE_RULES: Record<SshdMode, Rule[]> = { normal: [], ddos: DDOS, extra: EXTRA, aggressive: [...DDOS, ...EXTRA] };
const FOOTER = rule("^Connection from <HOST>", { nofail: true });

export interface Found {
  rule: Rule;
  host: string | undefined;
  user: string | undefined;
}

/** `Failed <method> for …`, parsed by OpenSSH's format (./sshd-filter-failed.ts). */
function failedFor(content: string): Found | "ambiguous" | undefined {
  const f = parseFailedFor(content);
  if (!f) return undefined;
  if (f.kind === "ambiguous") return "ambiguous";
  // a valid user's refused key is not a failure by itself: clients offer every key they hold;
  // an invalid user's is (no such account has keys)
  const valid = !content.startsWith("invalid user ", 12 + f.method.length);
  return { rule: f.method === "publickey" && valid ? FAILED_PUBLICKEY : FAILED, host: f.host, user: f.user };
}
const FAILED: Rule = { re: /^Failed /, fast: /^Failed /, first: "F", lead: (c) => c.startsWith("Failed ") };
const FAILED_PUBLICKEY: Rule = { ...FAILED, nofail: true };

const ADDRESS = new RegExp(`^(?:${IPV4}|${IPV6})$`);
const ON_ADDRESS = new RegExp(` on (?:${IPV4}|${IPV6})(?: |$)`);

/** Whether a character can start an address (IPv4: a digit; IPv6: a hex digit or a colon). */
const mayStartAddress = (c: number) => (c >= 48 && c <= 58) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);

/**
 * The addresses that can be sshd's own in `<name> <addr><tail>`, the name starting at `userAt`:
 * sshd writes the address after the user name and a space, then its fixed tail to the end of the
 * line, so every space from the end back to the name's start where `tail` matches (to the end, or,
 * for a tail holding client-chosen names, to where they start) is a candidate. The name may contain
 * spaces, addresses and a copy of the tail.
 */
function fromEnd(content: string, userAt: number, tail: RegExp): Map<string, number> {
  const hosts = new Map<string, number>();
  for (let i = content.lastIndexOf(" "); i >= userAt; i = i === 0 ? -1 : content.lastIndexOf(" ", i - 1)) {
    // an address starts with a digit, a hex letter or a colon: no other word can be one
    if (!mayStartAddress(content.charCodeAt(i + 1))) continue;
    tail.lastIndex = i + 1;
    const host = tail.exec(content)?.groups?.host;
    if (host !== undefined && ADDRESS.test(host) && !hosts.has(host)) hosts.set(host, i);
  }
  return hosts;
}

/**
 * A matched line with a user name (the client chooses it). Where the name directly precedes the
 * address (`Connection closed by invalid user <name> <addr> port <n> [preauth]`), the regex's split
 * can be the name's: the address is found from the end of the line (`fromEnd`), and two candidates
 * (`… user a 198.18.0.7 on 203.0.113.9 port 4 [preauth]`) make the line no one's failure. Where
 * ` from ` precedes the address, the regex reaches the end of the line only through sshd's own
 * ` from <addr>`, but fail2ban's optional ` on \S+` after it can swallow an address
 * (`Invalid user a from 198.18.0.7 on 203.0.113.9 port 4`, a line sshd does not write): ambiguous.
 */
function judged(r: Rule, m: RegExpExecArray, content: string): Found | "ambiguous" {
  const found = { rule: r, host: m.groups?.host, user: m.groups?.user ?? m.groups?.altuser };
  const userAt = m.indices?.groups?.user?.[0];
  if (userAt === undefined) return found;
  if (!r.tail) {
    const hostEnd = m.indices?.groups?.host?.[1] ?? content.length;
    return ON_ADDRESS.test(content.slice(hostEnd)) ? "ambiguous" : found;
  }
  return byTail(found, r.tail, content, userAt);
}

/** The address of a line whose user name directly precedes it, from the end (`fromEnd`). */
function byTail(found: Found, tail: RegExp, content: string, userAt: number): Found | "ambiguous" {
  const hosts = fromEnd(content, userAt, tail);
  if (hosts.size > 1) return "ambiguous";
  // none: the regex found a host name (never banned); one: sshd's own address
  const [one] = hosts;
  if (one === undefined) return found;
  return { ...found, host: one[0], user: content.slice(userAt, one[1]) };
}

const ON_ADDRESS_AT = new RegExp(ON_ADDRESS.source, "g");
const NO_GROUPS: Readonly<Record<string, string | undefined>> = Object.freeze({});

/**
 * `judged` for a match of a rule's `fast` regex (no indices): the address ends where what follows
 * it (`after`) starts; the user name of a rule with a `tail` starts after the first ` user ` (each
 * such rule's words before the name hold one ` user `, the last of them).
 */
function judgedFast(r: Rule, m: RegExpExecArray, content: string): Found | "ambiguous" {
  const g: Record<string, string | undefined> = m.groups ?? NO_GROUPS;
  const found = { rule: r, host: g.host, user: g.user ?? g.altuser };
  if (g.user === undefined) return found;
  if (!r.tail) {
    ON_ADDRESS_AT.lastIndex = g.after === undefined ? content.length : m[0].length - g.after.length;
    return ON_ADDRESS_AT.test(content) ? "ambiguous" : found;
  }
  return byTail(found, r.tail, content, content.indexOf(" user ") + 6);
}


type Step = Rule | "failed";

/** A mode's rules in fail2ban's order; `failed`: `Failed <method> for …` (`failedFor`). */
const modeRules = (mode: SshdMode): Step[] => [...COMMON_HEAD, "failed", ...COMMON_TAIL, ...OTHER[mode], ACCEPTED, ...MODE_RULES[mode], FOOTER];

export type Finding = Found | "ambiguous" | undefined;

/** Every rule in order, with indices: the reference the fast path is held to. */
export function findReference(mode: SshdMode): (content: string) => Finding {
  const steps = modeRules(mode);
  return (content) => {
    for (const r of steps) {
      if (r === "failed") {
        const f = failedFor(content);
        if (f) return f;
      } else if (r.lead(content)) {
        const m = r.re.exec(content);
        if (m) return judged(r, m, content);
      }
    }
    return undefined;
  };
}

/** The rules a message starting with each ASCII character can match, in order; index 128: any other. */
function byFirstChar(steps: readonly Step[]): ((content: string) => Finding)[][] {
  const step = (r: Step) =>
    r === "failed"
      ? failedFor
      : (content: string) => {
          if (!r.lead(content)) return undefined;
          const m = r.fast.exec(content);
          return m ? judgedFast(r, m, content) : undefined;
        };
  const can = (r: Step, ch: string | undefined) => {
    const first = r === "failed" ? "F" : r.first;
    return first === undefined || (ch !== undefined && first.includes(ch));
  };
  return Array.from({ length: 129 }, (_, code) => steps.filter((r) => can(r, code < 128 ? String.fromCharCode(code) : undefined)).map(step));
}

/** The rule of the message that starts at `at` in `line` (see the top of this file). */
export function findFast(mode: SshdMode): (line: string, at: number) => Finding {
  const table = byFirstChar(modeRules(mode));
  return (line, at) => {
    const code = line.charCodeAt(at);
    const steps = table[code < 128 ? code : 128] as ((content: string) => Finding)[];
    if (steps.length === 0) return undefined;
    const content = line.slice(at);
    for (const s of steps) {
      const f = s(content);
      if (f) return f;
    }
    return undefined;
  };
}
