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
 * The rules (./sshd-rules.ts) run on V8's linear-time engine; "Failed … for" lines, whose user name an
 * attacker chooses, are parsed by OpenSSH's format (./sshd-filter-failed.ts), and a line naming two
 * candidate sources is ambiguous: no one's failure (docs/detection.md). Only lines whose program tag
 * is sshd's, right after syslog's header, count (./sshd-syslog.ts).
 */

import { detachedCopy } from "./line-scan.js";
import { lineTimeMs } from "./sshd-line-time.js";
import { findFast, findReference, type Found, type Finding, type SshdMode } from "./sshd-rules.js";
import { locate, sessionOf, splitSession, sshdCursor } from "./sshd-syslog.js";

export { splitSession, type SshdMode };

interface Session {
  host: string | undefined;
  /** The first user name the session named, and how many different ones it named (2: two or more). */
  user: string | undefined;
  users: 0 | 1 | 2;
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
  /** The clock sessions expire by (milliseconds), for lines without a time stamp. */
  now?: () => number;
}

/** Sessions fail2ban remembers: 100, for 5 minutes; a busy server has more, so fleetwall keeps more. */
export const MAX_SESSIONS = 10_000;

const SESSION_MS = 5 * 60_000;

/**
 * A session is its pid and its address: a line naming another address than the session's starts
 * a new session. A session that knows no address yet (a failure without one is pending) takes the
 * address of a line that is itself a failure or that closes the connection; any other line naming
 * an address (a login, a refused key of a valid user, a new connection) belongs to a new session:
 * a legitimate login on a reused pid never inherits another connection's failures.
 */
export function sessionStore(): ((id: string, found: Found, t: number) => Session) & { readonly size: number } {
  const sessions = new Map<string, Session>();
  const store = (id: string, found: Found, t: number): Session => {
    const { rule: r, host, user } = found;
    const nofail = Boolean(r.nofail || r.gained);
    let s = sessions.get(id);
    // log time can step back (a new year, lines out of order): a gap either way ends the session
    if (s && Math.abs(t - s.seen) > SESSION_MS) s = undefined;
    if (s && host !== undefined && s.host !== host) {
      const adopts = s.host === undefined && !r.gained && (!nofail || r.forget === true);
      if (!adopts) s = undefined;
    }
    if (s) {
      if (user !== undefined && user !== "") {
        if (s.user === undefined) {
          s.user = detachedCopy(user);
          s.users = 1;
        } else if (s.user !== user) s.users = 2;
      }
      if (host !== undefined && s.host !== host) s.host = detachedCopy(host);
      s.nofail = nofail;
      s.gained = Boolean(r.gained);
      s.seen = t;
    } else {
      sessions.delete(id);
      s = { host: host === undefined ? undefined : detachedCopy(host), user: user ? detachedCopy(user) : undefined, users: user ? 1 : 0, nofail, gained: Boolean(r.gained), pending: false, seen: t };
      if (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value as string);
      sessions.set(id, s);
    }
    if (r.forget) sessions.delete(id);
    return s;
  };
  // how many sessions are held: bounded by MAX_SESSIONS, and ended sessions are not among them
  return Object.defineProperty(store, "size", { get: () => sessions.size }) as typeof store & { readonly size: number };
}

/** A line's session and what it means, or undefined for a line that is not an sshd line any rule matches. */
type Step = (line: string) => { session: string; found: NonNullable<Finding> } | undefined;

/**
 * The fast path: the program tag is found first (no string made), then only the rules the message's
 * first character allows are tried; syslog's header is checked, and the session named, only for a
 * line a rule matched.
 */
function fastStep(mode: SshdMode): Step {
  const cursor = sshdCursor();
  const find = findFast(mode);
  return (line) => {
    if (!locate(line, cursor)) return undefined;
    const found = find(line, cursor.content);
    if (!found) return undefined;
    const session = sessionOf(line, cursor);
    return session === undefined ? undefined : { session, found };
  };
}

/** The reference path: the line split whole, every rule tried in order with indices. */
function referenceStep(mode: SshdMode): Step {
  const find = findReference(mode);
  return (line) => {
    const split = splitSession(line);
    const found = split && find(split.content);
    return found ? { session: split.session, found } : undefined;
  };
}

/** Makes a stateful sshd filter: feed it every line of the log, in order. */
export function sshdFilter(options: SshdFilterOptions = {}): (line: string) => SshdFailure | undefined {
  return filterWith(fastStep(options.mode ?? "normal"), options);
}

/**
 * The same filter on the reference path (every rule, with indices, the line split whole): what the
 * fast path is held to in tests (sshd-rules.test.ts).
 */
export function sshdReferenceFilter(options: SshdFilterOptions = {}): (line: string) => SshdFailure | undefined {
  return filterWith(referenceStep(options.mode ?? "normal"), options);
}

function filterWith(step: Step, options: SshdFilterOptions): (line: string) => SshdFailure | undefined {
  const now = options.now ?? Date.now;
  const session = sessionStore();
  return (line) => {
    const split = step(line);
    if (!split) return undefined;
    const { found } = split;
    if (found === "ambiguous") {
      options.onAmbiguous?.();
      return undefined;
    }
    // sessions expire by the log's own time when the line has one, so an old log read at once expires too
    const s = session(split.session, found, lineTimeMs(line) ?? now());
    // pending failures, or a second user name, make even a success or a nofail line a failure
    if (s.pending || s.users > 1) {
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
