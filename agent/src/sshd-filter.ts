/**
 * The built-in sshd filter. OpenSSH spreads one failed login over several lines of one session
 * (a pam_unix failure, then "Disconnecting: Too many authentication failures" without an address,
 * then "Connection closed by <addr>"), so the filter keeps a little state per session (host name,
 * sshd pid and address: a line naming another address starts a new session, see `sessionStore`),
 * with fail2ban's semantics otherwise, so that it finds the failures fail2ban finds:
 *
 * - a `nofail` line is not a failure by itself, but tells the session its address and user;
 * - a failure line without an address is pending until a later line of the session names one;
 * - a successful login (`Accepted …`) forgets the session's failures, unless the session tried more
 *   than one user name (an attacker who guesses a second account is still an attacker);
 * - a `forget` line (disconnect, connection closed) ends the session.
 *
 * Every regex here runs on V8's linear-time engine; "Failed … for" lines, whose user name an attacker
 * chooses, are parsed by OpenSSH's format (./sshd-filter-failed.ts), and a line naming two candidate
 * sources is ambiguous: no one's failure (docs/detection.md).
 */

import { parseFailedFor } from "./sshd-filter-failed.js";
import { splitSession } from "./sshd-line.js";

export { splitSession } from "./sshd-line.js";

export type SshdMode = "normal" | "ddos" | "extra" | "aggressive";

/** What one line means for its session. */
interface Rule {
  re: RegExp;
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
const CHANGE_TAIL = "<HOST>" + ON_PORT + ":\\s*Change of username or service not allowed:\\s*.*\\[preauth\\]\\s*$";
const EXTRA_TAIL = "<HOST>" + ON_PORT + " \\[preauth\\]\\s*$";

/** The test for the literal a rule's source starts with (`^Literal`, or `^[aA]literal`). */
function leadOf(source: string): (content: string) => boolean {
  const cls = /^\^\[(\w)(\w)\]/.exec(source);
  const lit = (/^[\w :;,'-]*/.exec(source.slice(cls ? cls[0].length : 1)) as RegExpExecArray)[0];
  if (!cls) return (c) => c.startsWith(lit);
  return (c) => (c[0] === cls[1] || c[0] === cls[2]) && c.startsWith(lit, 1);
}

/** Rules match with indices (`d`): where the user name and the address are decides (`judged`). */
const rule = (source: string, flags: Omit<Rule, "re" | "lead"> = {}): Rule => ({ re: new RegExp(source.replaceAll("<HOST>", HOST), "d"), lead: leadOf(source), ...flags });

/** A rule whose user name directly precedes the address; `tail` is the format from the address on. */
const userRule = (source: string, tail: string, flags: Omit<Rule, "re" | "lead" | "tail"> = {}): Rule => ({
  ...rule(source, flags),
  tail: new RegExp(tail.replaceAll("<HOST>", HOST), "y"),
});

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
  userRule("^Disconnecting(?: from)? (?:invalid|authenticating) user (?<user>\\S+) " + CHANGE_TAIL, CHANGE_TAIL, { forget: true }),
  rule("^Disconnecting: Too many authentication failures(?: for (?<user>\\S+|.*?))?" + SUFF),
  rule("^Received disconnect from <HOST>" + ON_PORT + ":\\s*11:", { nofail: true, forget: true }),
];
const CLOSED = "^(?:Connection (?:closed|reset)|Disconnected) (?:by|from)" + AUTHNG_USER + " ";
const closed = (tail: string, flags: Omit<Rule, "re" | "lead" | "tail">): Rule => userRule(CLOSED + tail, tail, flags);
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
const ACCEPTED = rule("^Accepted \\w+ for (?<user>\\S+) from <HOST>(?:\\s|$)", { forget: true, gained: true });
const DDOS: Rule[] = [
  rule("^Did not receive identification string from <HOST>"),
  rule("^kex_exchange_identification: (?:read: )?(?:[Cc]lient sent invalid protocol identifier|[Cc]onnection (?:closed by remote host|reset by peer))"),
  rule("^Bad protocol version identification '.*' from <HOST>"),
  rule("^SSH: Server;Ltype: (?:Authname|Version|Kex);Remote: <HOST>-\\d+;[A-Z]\\w+:", { nofail: true }),
  rule("^Read from socket failed: Connection reset by peer", { forget: true }),
  rule("^banner exchange: Connection from <HOST>" + ON_PORT + ": invalid format"),
];
const EXTRA: Rule[] = [
  rule("^Received disconnect from <HOST>" + ON_PORT + ":\\s*14: No(?: supported)? authentication methods available", { forget: true }),
  rule("^Unable to negotiate with <HOST>" + ON_PORT + ": no matching " + ALG + " found\\."),
  rule("^Unable to negotiate a \\w+"),
  rule("^no matching " + ALG + " found:"),
];
const MODE_RULES: Record<SshdMode, Rule[]> = { normal: [], ddos: DDOS, extra: EXTRA, aggressive: [...DDOS, ...EXTRA] };
const FOOTER = rule("^Connection from <HOST>", { nofail: true });

interface Found {
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
const FAILED: Rule = { re: /^Failed /, lead: (c) => c.startsWith("Failed ") };
const FAILED_PUBLICKEY: Rule = { ...FAILED, nofail: true };

const ADDRESS = new RegExp(`^(?:${IPV4}|${IPV6})$`);
const ON_ADDRESS = new RegExp(` on (?:${IPV4}|${IPV6})(?: |$)`);

/**
 * The addresses that can be sshd's own in `<name> <addr><tail>`, the name starting at `userAt`:
 * sshd writes the address after the user name and a space, then its fixed tail to the end of the
 * line, so every space from the end back to the name's start where `tail` matches to the end is a
 * candidate. The name may contain spaces, addresses and a copy of the tail.
 */
function fromEnd(content: string, userAt: number, tail: RegExp): Map<string, number> {
  const hosts = new Map<string, number>();
  for (let i = content.lastIndexOf(" "); i >= userAt; i = i === 0 ? -1 : content.lastIndexOf(" ", i - 1)) {
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
  const hosts = fromEnd(content, userAt, r.tail);
  if (hosts.size > 1) return "ambiguous";
  // none: the regex found a host name (never banned); one: sshd's own address
  const [one] = hosts;
  if (one === undefined) return found;
  return { ...found, host: one[0], user: content.slice(userAt, one[1]) };
}

interface Session {
  host: string | undefined;
  users: Set<string>;
  nofail: boolean;
  gained: boolean;
  pending: boolean;
  seen: number;
}

/** A failure the filter found: the offender as logged (an address or a host name). */
export interface SshdFailure {
  host: string;
}

export interface SshdFilterOptions {
  mode?: SshdMode;
  /** Called for a line with two candidate source addresses (a crafted user name): no one's failure. */
  onAmbiguous?: () => void;
  /** The clock sessions expire by (milliseconds). */
  now?: () => number;
}

/** Sessions fail2ban remembers: 100, for 5 minutes; a busy server has more, so fleetwall keeps more. */
const MAX_SESSIONS = 10_000;
const SESSION_MS = 5 * 60_000;

/**
 * A session is its pid and its address: a line naming another address than the session's starts
 * a new session. A session that knows no address yet (a failure without one is pending) takes the
 * address of a line that is itself a failure or that closes the connection; any other line naming
 * an address (a login, a refused key of a valid user, a new connection) belongs to a new session:
 * a legitimate login on a reused pid never inherits another connection's failures.
 */
function sessionStore(): (id: string, found: Found, t: number) => Session {
  const sessions = new Map<string, Session>();
  return (id: string, found: Found, t: number): Session => {
    const { rule: r, host, user } = found;
    const nofail = Boolean(r.nofail || r.gained);
    let s = sessions.get(id);
    if (s && t - s.seen > SESSION_MS) s = undefined;
    if (s && host !== undefined && s.host !== host) {
      const adopts = s.host === undefined && !r.gained && (!nofail || r.forget === true);
      if (!adopts) s = undefined;
    }
    if (s) {
      if (user !== undefined && user !== "") s.users.add(user);
      if (host !== undefined) s.host = host;
      s.nofail = nofail;
      s.gained = Boolean(r.gained);
      s.seen = t;
    } else {
      sessions.delete(id);
      s = { host, users: new Set(user ? [user] : []), nofail, gained: Boolean(r.gained), pending: false, seen: t };
      if (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value as string);
      sessions.set(id, s);
    }
    if (r.forget) sessions.delete(id);
    return s;
  };

}

/** Makes a stateful sshd filter: feed it every line of the log, in order. */
export function sshdFilter(options: SshdFilterOptions = {}): (line: string) => SshdFailure | undefined {
  const mode = options.mode ?? "normal";
  const now = options.now ?? Date.now;
  const rules = [...COMMON_HEAD, ...COMMON_TAIL, ...OTHER[mode], ACCEPTED, ...MODE_RULES[mode], FOOTER];
  const tail = rules.slice(COMMON_HEAD.length);

  const find = (content: string): Found | "ambiguous" | undefined => {
    for (const r of COMMON_HEAD) {
      if (!r.lead(content)) continue;
      const m = r.re.exec(content);
      if (m) return judged(r, m, content);
    }
    const failed = failedFor(content);
    if (failed) return failed;
    for (const r of tail) {
      if (!r.lead(content)) continue;
      const m = r.re.exec(content);
      if (m) return judged(r, m, content);
    }
    return undefined;
  };

  const session = sessionStore();
  return (line) => {
    const split = splitSession(line);
    if (!split) return undefined;
    const found = find(split.content);
    if (!found) return undefined;
    if (found === "ambiguous") {
      options.onAmbiguous?.();
      return undefined;
    }
    const s = session(split.session, found, now());
    // pending failures, or a second user name, make even a success or a nofail line a failure
    if (s.pending || s.users.size > 1) {
      s.nofail = false;
      s.gained = false;
    }
    s.pending = false;
    if (s.nofail) return undefined;
    if (s.host === undefined) {
      s.pending = true;
      return undefined;
    }
    return { host: s.host };
  };
}
