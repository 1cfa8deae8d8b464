import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sshdFilter, sshdReferenceFilter } from "./sshd-filter.js";
import { firstChars } from "./sshd-rule-source.js";
import { findFast, findReference, type SshdMode } from "./sshd-rules.js";
import { locate, sessionOf, splitSession, sshdCursor } from "./sshd-syslog.js";

/**
 * The sshd filter's fast path (program tag by character codes, rules chosen by the message's first
 * character, no indices, header checked only on a match) against the reference path (the line
 * split whole by regexes, every rule tried in order with indices), on generated lines: headers of
 * every shape syslog writes and some it does not, program tags of sshd and of others, every rule's
 * message, hostile user names (holding `from <addr> port 22 ssh2`, ` user `, a second address).
 */

const MODES: SshdMode[] = ["normal", "ddos", "extra", "aggressive"];

const header = fc.constantFrom(
  "Mar  3 06:00:00 bastion ",
  "Mar 03 06:00:00.123456 web-1 ",
  "Dec 31 23:59:59 h.example.com  ",
  "Mar  3 06:00:00 2026 ",
  "Mar  3 06:00:00 2026x ",
  "Mar  3 06:00:00 UTC ",
  "Mar  3 06:00:00 UTCx ",
  "Mar  3 06:00:00. h ",
  "Mar  3 06:00:00 ",
  "Mar 3 2026 06:00:00 h ",
  "Mon Mar  3 06:00:00 h ",
  "mar  3 06:00:00 h ",
  "Mar  3 6:00:00 h ",
  "Mar  3 06:00:00 h1 app ",
  "2026-03-03T06:00:00.123+00:00 host ",
  "[Mar  3 06:00:00] h ",
  "<38>Mar  3 06:00:00 h ",
  "<38>1 2026-03-03T06:00:00Z h ",
  "h ",
  "",
  "GET /x ",
);
const tag = fc.constantFrom(
  "sshd[41000]: ",
  "sshd: ",
  "sshd-session[77]: ",
  "sshd[007]: ",
  "sshd[0]: ",
  "sshd[1234567890]: ",
  "[sshd] ",
  "sshd[12]:  ",
  "sshd[12]:\t",
  "sshd[1]: error: ",
  "sshd[1]: fatal: PAM: ",
  "sshd[1]: [ID 800047 auth.info] ",
  "sshd[1]: kernel: [ 12.5] ",
  "sshd[]: ",
  "sshd[1] ",
  "sshd[1]]: ",
  "xsshd[1]: ",
  "nginx[1]: ",
  "sshd 55555 - - ",
  "",
);
const user = fc.oneof(
  fc.constantFrom("root", "a b", "user", " user ", "invalid user y", "", "ROOT", "x from 203.0.113.9 port 22 ssh2", "u 198.18.0.7 on 203.0.113.9", "a 203.0.113.9 port 4 [preauth]", "é"),
  fc.string({ maxLength: 8 }),
);
const address = fc.constantFrom("203.0.113.7", "198.18.0.5", "2001:db8::1", "::ffff:203.0.113.8", "host.example.com", "999.1.1.1", "203.0.113.7 on 198.18.0.9");
const port = fc.constantFrom(" port 22", " port 4242", "", " port 1 on 198.18.0.1 port 22");
const end = fc.constantFrom("", " [preauth]", "  ", " ssh2", " x");

const MESSAGES: ((u: string, a: string, p: string, e: string) => string)[] = [
  (u, a, p, e) => `Failed password for ${u} from ${a}${p} ssh2${e}`,
  (u, a, p) => `Failed publickey for invalid user ${u} from ${a}${p} ssh2: RSA SHA256:abc`,
  (u, a, p) => `Failed publickey for ${u} from ${a}${p} ssh2: ED25519 SHA256:abc`,
  (u, a, p, e) => `Invalid user ${u} from ${a}${p}${e}`,
  (u, a, p, e) => `illegal user ${u} from ${a}${p}${e}`,
  (u, a, p, e) => `Connection closed by authenticating user ${u} ${a}${p}${e}`,
  (u, a, p, e) => `Connection closed by invalid user ${u} ${a}${p}${e}`,
  (_, a, p, e) => `Connection closed by ${a}${p}${e}`,
  (_, a, p, e) => `Connection reset by ${a}${p}${e}`,
  (u, a, p, e) => `Disconnected from invalid user ${u} ${a}${p}${e}`,
  (u, a, p, e) => `Disconnected from user ${u} ${a}${p}${e}`,
  (u, a, p) => `Disconnecting authenticating user ${u} ${a}${p}: Too many authentication failures [preauth]`,
  (u, a, p) => `Disconnecting invalid user ${u} ${a}${p}: Change of username or service not allowed: (a,ssh-connection) -> (b,ssh-connection) [preauth]`,
  (u, _, __, e) => `Disconnecting: Too many authentication failures for ${u}${e}`,
  (_, a, p, e) => `Received disconnect from ${a}${p}:11: Bye Bye${e}`,
  (_, a, p) => `Received disconnect from ${a}${p}:3: com.jcraft.jsch.JSchException: Auth fail [preauth]`,
  (_, a, p) => `Received disconnect from ${a}${p}:14: No supported authentication methods available [preauth]`,
  (u, a, p, e) => `Accepted publickey for ${u} from ${a}${p} ssh2: ED25519 SHA256:x${e}`,
  (u, a, p, e) => `Accepted password for ${u} from ${a}${p}${e}`,
  (u, a, p, e) => `Accepted keyboard-interactive/pam for ${u} from ${a}${p} ssh2${e}`,
  (u, a, p, e) => `Accepted keyboard-interactive/bsdauth for ${u} from ${a}${p} ssh2${e}`,
  (u, a, p, e) => `Accepted gssapi-with-mic for ${u} from ${a}${p} ssh2${e}`,
  (u, a, p) => `Accepted hostbased for ${u} from ${a}${p} ssh2: RSA SHA256:x, client user "${u}", client host "h"`,
  (u, a, p, e) => `Accepted none for ${u} from ${a}${p} ssh2${e}`,
  (u, a, p, e) => `Accepted keyboard-interactive/ for ${u} from ${a}${p}${e}`,
  (u, a, p) => `Timeout before authentication for ${a}${p}`,
  () => "Disconnecting: Too many authentication failures [preauth]",
  (u, a, p, e) => `maximum authentication attempts exceeded for ${u} from ${a}${p} ssh2${e}`,
  (u, a) => `pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=${a}  user=${u}`,
  (u, a, p, e) => `User ${u} from ${a} not allowed because not listed in AllowUsers${p}${e}`,
  (u, _, __, e) => `User ${u} not allowed because account is locked${e}`,
  (_, a) => `ROOT LOGIN REFUSED FROM ${a}`,
  (_, a) => `refused connect from x (${a})`,
  (u, a, _, e) => `Authentication failure for ${u} from ${a}${e}`,
  (u, a) => `authentication error for ${u} from ${a} via 198.18.0.1`,
  (u, a, p) => `User not known to the underlying authentication module for ${u} from ${a}${p}`,
  (_, a, p) => `Connection from ${a}${p} on 198.18.0.1 port 22 rdomain ""`,
  (_, a) => `Did not receive identification string from ${a}`,
  () => "kex_exchange_identification: Connection closed by remote host",
  () => "error: kex_exchange_identification: read: Connection reset by peer",
  () => 'kex_exchange_identification: client sent invalid protocol identifier "GET / HTTP/1.1"',
  (_, a) => `Bad protocol version identification 'x' from ${a}`,
  (_, a, p) => `Unable to negotiate with ${a}${p}: no matching key exchange method found.`,
  () => "Unable to negotiate a key exchange method",
  (_, a, p) => `banner exchange: Connection from ${a}${p}: invalid format`,
  (_, a) => `SSH: Server;Ltype: Authname;Remote: ${a}-1234;Name: root`,
  () => "Read from socket failed: Connection reset by peer",
  () => "Server listening on 0.0.0.0 port 22.",
  (u) => `pam_unix(sshd:session): session opened for user ${u}(uid=0) by (uid=0)`,
];

const message = fc.oneof(
  { weight: 9, arbitrary: fc.tuple(fc.nat(MESSAGES.length - 1), user, address, port, end).map(([i, u, a, p, e]) => (MESSAGES[i] as (typeof MESSAGES)[number])(u, a, p, e)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
);
const line = fc.tuple(header, tag, message).map(([h, t, m]) => h + t + m);

describe("the sshd filter's fast path against its reference path", () => {
  it("finds sshd's message and session exactly where splitSession does", () => {
    const cursor = sshdCursor();
    fc.assert(
      fc.property(line, (l) => {
        const session = locate(l, cursor) ? sessionOf(l, cursor) : undefined;
        const fast = session === undefined ? undefined : { session, content: l.slice(cursor.content) };
        expect(fast).toEqual(splitSession(l));
      }),
      { numRuns: 3000 },
    );
  });

  it.each(MODES)("finds the same rule, address and user as every rule tried in order (%s)", (mode) => {
    const fast = findFast(mode);
    const reference = findReference(mode);
    fc.assert(
      fc.property(fc.string({ maxLength: 4 }), message, (before, m) => {
        expect(fast(before + m, before.length)).toEqual(reference(m));
      }),
      { numRuns: 3000 },
    );
  });

  it.each(MODES)("gives the same failures, and the same ambiguous lines, over interleaved sessions with reused pids (%s)", (mode) => {
    const session = fc.tuple(fc.constantFrom("Mar  3 06:00:00 bastion ", "Mar  3 06:01:00 web ", "<38>1 2026-03-03T06:00:00Z h "), fc.constantFrom("sshd[1]: ", "sshd[2]: ", "sshd-session[1]: ", "sshd[1]: error: "));
    fc.assert(
      fc.property(fc.array(fc.tuple(session, message), { maxLength: 40 }), (lines) => {
        const seen: unknown[][] = [[], []];
        const filters = [sshdFilter({ mode, now: () => 0, onAmbiguous: () => seen[0]?.push("ambiguous") }), sshdReferenceFilter({ mode, now: () => 0, onAmbiguous: () => seen[1]?.push("ambiguous") })];
        for (const [[h, t], m] of lines) filters.forEach((f, i) => seen[i]?.push(f(h.startsWith("<") ? `${h}sshd 1 - - ${m}` : h + t + m)?.host));
        expect(seen[0]).toEqual(seen[1]);
      }),
      { numRuns: 500 },
    );
  });
});

describe("the characters a rule's match can start with", () => {
  it.each([
    ["^Failed x", "F"],
    ["^[aA]uthentication", "aA"],
    ["^(?<user>ROOT) LOGIN", "R"],
    ["^(?:Connection (?:closed|reset)|Disconnected) (?:by|from)", "CD"],
    ["^(?:a|b)?c", undefined],
    ["^x?y", undefined],
    ["^\\w+", undefined],
    ["^.", undefined],
    ["^(?=a)", undefined],
    ["^[a-z]", undefined],
  ])("%s: %s", (source, first) => {
    expect(firstChars(source)).toBe(first);
  });
});
