import { canonicalizer } from "./filters.js";

// The built-in filters of HTTP servers, parsed by the grammar of the lines their servers write, not
// by unanchored regexes: a request's referrer, user name or User-Agent is the client's text and
// must not choose the address a failure is charged to (docs/detection.md).

/** What a filter finds on one line: a failure of an address, a line naming two candidates (no one's failure), or nothing. */
export type HttpFinding = { kind: "failure"; host: string } | { kind: "ambiguous" } | undefined;

/**
 * nginx's error-log head at the START of the line: optionally syslog's header (`<pri>`, `Mmm dd
 * hh:mm:ss host nginx[pid]: `), optionally nginx's time stamp, then `[level] pid#tid: ` and, for a
 * connection's lines, `*N `. Anchored: nginx writes a user name raw, so a name holding a newline
 * starts a physical line with the client's text, and a head found later in it (in a referrer) is not
 * nginx's.
 */
const NGINX_HEAD = /^(?:<[0-9]+>)?(?:[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} \S+ nginx(?:\[[0-9]+\])?: )?(?:[0-9]{4}\/[0-9]{2}\/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} )?\[[a-z]+\] [0-9]+#[0-9]+: (?:\*[0-9]+ )?/;
/** Where nginx appends the connection's context to a message (ngx_http_log_error): `, client: <addr>, server: <name>`. */
const CLIENT = /, client: ([^,\s]*)/g;
/**
 * What nginx writes after `client: <addr>`: `, server: <name>`, then optionally its quoted fields
 * (request, subrequest, upstream, host, referrer: one `.*` spans them all) to the end of the line.
 */
const NGINX_TAIL = /^, server: [^,\s]*(?:, (?:request|subrequest|upstream|host|referrer): ".*")?$/;

/** True when `message` is one of ngx_http_auth_basic_module's failures. The user name is the client's and may hold anything. */
function isAuthFailure(message: string): boolean {
  if (message === "no user/password was provided for basic authentication") return true;
  if (!message.startsWith('user "')) return false;
  return message.endsWith('": password mismatch') || message.endsWith('" password mismatch') || (message.includes('" was not found in "') && message.endsWith('"'));
}

/**
 * The `nginx-http-auth` filter. nginx writes an auth_basic failure right after its head, then
 * `, client: <addr>, server: <name>`, then its quoted fields to the end of the line. A candidate is
 * each `, client: <addr>` that has a failure message (and nothing else) before it and nginx's form
 * after it to the end of the line; one candidate is the source. A referrer or request that repeats
 * the message makes no candidate (the text before it is not a message), so a 404 whose referrer is
 * `no user/password was provided …, client: V, server: x` is nothing. A user name (the client's
 * text) crafted so that two places parse is ambiguous: no one's failure.
 */
export function nginxAuthFilter(): (line: string) => HttpFinding {
  const canonical = canonicalizer();
  return (line) => {
    if (!line.includes("client:")) return undefined;
    const head = NGINX_HEAD.exec(line);
    if (!head) return undefined;
    const rest = line.slice(head.index + head[0].length);
    const candidates = new Set<string>();
    for (const m of rest.matchAll(CLIENT)) {
      if (!isAuthFailure(rest.slice(0, m.index)) || !NGINX_TAIL.test(rest.slice(m.index + m[0].length))) continue;
      const host = canonical(m[1] as string);
      if (host) candidates.add(host);
    }
    if (candidates.size > 1) return { kind: "ambiguous" };
    const [host] = candidates;
    return host === undefined ? undefined : { kind: "failure", host };
  };
}

/** logfmt's fields (`key=value`, `key="quoted \" value"`); tokens without `=` are skipped. A key given twice maps to null. */
export function logfmtFields(line: string): Map<string, string | null> {
  const out = new Map<string, string | null>();
  let i = 0;
  while (i < line.length) {
    while (line[i] === " ") i += 1;
    const start = i;
    while (i < line.length && line[i] !== " " && line[i] !== "=" && line[i] !== '"') i += 1;
    const key = line.slice(start, i);
    if (line[i] !== "=" || key === "") {
      // not a field: skip the token (a quoted run in it included)
      i = skipToken(line, i);
      continue;
    }
    i += 1;
    let value: string;
    if (line[i] === '"') {
      const end = quotedEnd(line, i);
      if (end < 0) return out; // an unclosed quote: the rest is one value, no further fields
      try {
        value = JSON.parse(line.slice(i, end + 1)) as string;
      } catch {
        value = line.slice(i + 1, end);
      }
      i = end + 1;
    } else {
      const end = line.indexOf(" ", i);
      value = line.slice(i, end < 0 ? line.length : end);
      i = end < 0 ? line.length : end;
    }
    out.set(key, out.has(key) ? null : value);
  }
  return out;
}

/** The index of the quote closing the one at `open` (backslash escapes), or -1. */
function quotedEnd(line: string, open: number): number {
  for (let i = open + 1; i < line.length; i += 1) {
    if (line[i] === "\\") i += 1;
    else if (line[i] === '"') return i;
  }
  return -1;
}

function skipToken(line: string, from: number): number {
  let i = from;
  while (i < line.length && line[i] !== " ") {
    if (line[i] === '"') {
      const end = quotedEnd(line, i);
      if (end < 0) return line.length;
      i = end;
    }
    i += 1;
  }
  return i;
}

const isSignIn = (path: unknown) => typeof path === "string" && (path === "/auth/sign_in" || path.startsWith("/auth/sign_in?"));

/** GoToSocial's JSON log line (the object from the first `{`), or undefined. */
function jsonFields(line: string): Record<string, unknown> | undefined {
  const at = line.indexOf('{"');
  if (at < 0) return undefined;
  try {
    const v: unknown = JSON.parse(line.slice(at));
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The `gotosocial-auth` filter: a request log line (logfmt or JSON) whose own `statusCode` field is
 * 401, whose `path` field is the sign-in form and whose `clientIP` field is an address. Fields are
 * read by their format, so a User-Agent holding `statusCode=401 path=/auth/sign_in clientIP=V` is
 * one quoted value, not three fields; a field given twice is no one's failure.
 */
export function gotosocialAuthFilter(): (line: string) => HttpFinding {
  const canonical = canonicalizer();
  return (line) => {
    if (!line.includes("401")) return undefined;
    const json = jsonFields(line);
    const fields = json ? new Map(Object.entries(json)) : logfmtFields(line);
    const status = fields.get("statusCode");
    if (status !== 401 && status !== "401") return undefined;
    if (!isSignIn(fields.get("path"))) return undefined;
    const ip = fields.get("clientIP");
    if (ip === null) return { kind: "ambiguous" };
    const host = typeof ip === "string" ? canonical(ip) : undefined;
    return host ? { kind: "failure", host } : undefined;
  };
}
