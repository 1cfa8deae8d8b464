/**
 * `Failed <method>[/<submethod>] for [invalid user ]<user> from <addr> port <n> ssh2[: <info>]`,
 * parsed by OpenSSH's own format (auth.c, `auth_log`), not by a regex that guesses.
 *
 * The user name (up to 100 characters) is chosen by the client, and so is part of the auth info of
 * some methods (hostbased: the client user and host; publickey: a certificate's key ID). Either can
 * contain `from 203.0.113.9 port 22 ssh2`. So the source is found from the end of the line:
 *
 * - methods that log no auth info (password, none, keyboard-interactive, …): sshd appends
 *   `from <addr> port <n> ssh2` last, so a line ending that way names its source there, whatever
 *   the user name contains;
 * - methods with auth info: every `from <addr> port <n> sshN: ` whose rest is the method's info
 *   grammar to the end of the line is a candidate;
 * - lines of older formats (no port, SSH1 `ruser` info) collect candidates with a port first, then
 *   without one.
 *
 * One distinct candidate address is the source; two or more make the line ambiguous, which is never
 * a failure of either (fail2ban takes the first, which the user name can supply).
 */

const IPV4 = "[0-9]{1,3}(?:\\.[0-9]{1,3}){3}";
const IPV6 = "[0-9A-Fa-f]*:[0-9A-Fa-f:.]*[0-9A-Fa-f]";
/** An address, or a host name (found like fail2ban does, never banned). */
const HOST = `(?<host>${IPV4}|${IPV6}|[\\w.-]*\\w)`;
const ON = "(?: on \\S+)?";
const KEY = "[A-Za-z0-9@._-]+ (?:SHA256:[A-Za-z0-9+/$]+=*|MD5:[0-9a-f:]+|[0-9a-fx]{2}(?::[0-9a-fx]{2})+)";

/** `<host> port <n> sshN` and nothing more: the end of a line of a method without auth info. */
const TAIL_PLAIN = new RegExp(`${HOST}${ON} port \\d+${ON}(?: ssh\\d*)?\\s*$`, "y");
/** The auth info sshd logs for a method, after `: `; methods not listed log none. */
const INFO: Readonly<Record<string, string>> = {
  publickey: `${KEY}(?:, cert ID .* \\(serial \\d+\\) CA ${KEY})?`,
  hostbased: `${KEY}, client user ".*", client host ".*"`,
  "keyboard-interactive": ".*",
  gssapi: ".*",
  "gssapi-with-mic": ".*",
};
const tailWithInfo = new Map<string, RegExp | null>();
function withInfo(method: string): RegExp | undefined {
  let re = tailWithInfo.get(method);
  if (re === undefined) {
    const info = INFO[method.split("/")[0] as string];
    re = info === undefined ? null : new RegExp(`${HOST}${ON} port \\d+${ON} ssh\\d*: ${info}\\s*$`, "y");
    // methods are a handful of names; a client cannot make this grow past sshd's own list
    if (tailWithInfo.size < 64) tailWithInfo.set(method, re);
  }
  return re ?? undefined;
}
/** Older formats: with a port (maybe followed by SSH1's `: ruser …`), or a bare address at the end. */
const LEGACY_PORT = new RegExp(`${HOST}${ON} port \\d+${ON}(?: ssh\\d*)?(?:: .*)?\\s*$`, "y");
const LEGACY_BARE = new RegExp(`${HOST}\\s*$`, "y");

export type FailedFor =
  | { kind: "found"; host: string; user: string; method: string }
  | { kind: "ambiguous"; method: string }
  | undefined;

/** Where ` from ` occurs in `rest`, last first. */
function fromPositions(rest: string): number[] {
  const out: number[] = [];
  for (let i = rest.lastIndexOf(" from "); i >= 0; i = i === 0 ? -1 : rest.lastIndexOf(" from ", i - 1)) out.push(i);
  return out;
}

function candidates(rest: string, at: readonly number[], re: RegExp): { host: string; at: number }[] {
  const out: { host: string; at: number }[] = [];
  for (const i of at) {
    // sticky at the address after " from ": no copy of the line's tail
    re.lastIndex = i + 6;
    const host = re.exec(rest)?.groups?.host;
    if (host !== undefined) out.push({ host, at: i });
  }
  return out;
}

function verdict(rest: string, found: { host: string; at: number }[], method: string): FailedFor {
  if (found.length === 0) return undefined;
  const hosts = new Set(found.map((f) => f.host));
  if (hosts.size > 1) return { kind: "ambiguous", method };
  // found is last first: the user name is what comes before sshd's own `from`
  const last = found[0] as { host: string; at: number };
  return { kind: "found", host: last.host, user: rest.slice(0, last.at), method };
}

/** Parses the content of an sshd `Failed … for …` line (after the syslog prefix), or undefined. */
export function parseFailedFor(content: string): FailedFor {
  if (!content.startsWith("Failed ")) return undefined;
  const sp = content.indexOf(" ", 7);
  if (sp < 0 || !content.startsWith(" for ", sp)) return undefined;
  const method = content.slice(7, sp);
  let rest = content.slice(sp + 5);
  if (rest.startsWith("invalid user ")) rest = rest.slice(13);
  const lastFrom = rest.lastIndexOf(" from ");
  if (lastFrom < 0) return undefined;
  const info = withInfo(method);
  if (!info) {
    // no auth info: the last `from <addr> port <n>` that ends the line is sshd's own
    TAIL_PLAIN.lastIndex = lastFrom + 6;
    const host = TAIL_PLAIN.exec(rest)?.groups?.host;
    if (host !== undefined) return { kind: "found", host, user: rest.slice(0, lastFrom), method };
  }
  const at = fromPositions(rest);
  if (info) {
    const found = [...candidates(rest, at, TAIL_PLAIN), ...candidates(rest, at, info)];
    if (found.length) return verdict(rest, found.sort((a, b) => b.at - a.at), method);
  }
  const legacy = candidates(rest, at, LEGACY_PORT);
  return verdict(rest, legacy.length ? legacy : candidates(rest, at, LEGACY_BARE), method);
}
