import { describe, expect, it } from "vitest";
import { canonicalizer, compileFinder, scanBytes, type JailFilter } from "./filters.js";
import { timedMatcher } from "./jail-time.js";

/**
 * A live jail (./jails.ts: every line the follower reads goes to `timedMatcher`, whose filter
 * rejects a line without its program tag or literal before any regex) and `fleetwall jail test`
 * (only the lines holding the filter's literals are cut out of the log, ./line-scan.ts) find the
 * same offenders on the same lines: the cheap rejection changes what is looked at, never the result.
 */

const rng = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);

function log(lines: number, seed: number): string {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)] as T;
  const a = () => pick(["203.0.113.7", "203.0.113.8", "2001:db8::9", "198.18.0.5", "host.example.com"]);
  const u = () => pick(["root", "admin", "x from 203.0.113.9 port 22 ssh2", "a 198.18.0.7 on 203.0.113.9", "user"]);
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const head = `Mar  3 06:${String(Math.floor(i / 60) % 60).padStart(2, "0")}:${String(i % 60).padStart(2, "0")} ${pick(["bastion", "web"])} `;
    const pid = pick([1, 2, 3]);
    out.push(
      head +
        pick([
          () => `sshd[${pid}]: Failed password for ${u()} from ${a()} port 22 ssh2`,
          () => `sshd[${pid}]: Invalid user ${u()} from ${a()} port 22`,
          () => `sshd[${pid}]: Connection closed by authenticating user ${u()} ${a()} port 22 [preauth]`,
          () => `sshd[${pid}]: Accepted publickey for alice from ${a()} port 22 ssh2: ED25519 SHA256:x`,
          () => `sshd[${pid}]: Disconnecting: Too many authentication failures [preauth]`,
          () => `sshd[${pid}]: Received disconnect from ${a()} port 22:11: Bye [preauth]`,
          () => `sshd-session[${pid}]: error: maximum authentication attempts exceeded for ${u()} from ${a()} port 22 ssh2 [preauth]`,
          () => `sudo[9]: alice : COMMAND=/usr/bin/journalctl -u sshd`,
          () => `app[4]: sshd[${pid}]: Failed password for root from ${a()} port 22 ssh2`,
          () => `CRON[${pid}]: pam_unix(cron:session): session opened for user root`,
          () => `postfix/smtpd[${pid}]: NOQUEUE: reject: RCPT from unknown[${a()}]: 554 5.7.1 Relay access denied`,
          () => `postfix/smtpd[${pid}]: connect from unknown[${a()}]`,
          () => `kernel: [ 12.5] IN=eth0 SRC=${a()} DPT=22`,
        ])(),
    );
  }
  return `${out.join("\n")}\n`;
}

/** What a live jail counts: every line, in order, through the jail's timed matcher. */
function live(jail: JailFilter, text: string): [number, string][] {
  const match = timedMatcher(jail);
  const out: [number, string][] = [];
  text.split("\n").forEach((line, i) => {
    const m = match(line);
    if (m) out.push([i + 1, m.host]);
  });
  return out;
}

/** What `jail test` reports (addresses only: a live jail bans no host name). */
function scanned(jail: JailFilter, text: string): [number, string][] {
  const find = compileFinder(jail);
  const canonical = canonicalizer();
  const out: [number, string][] = [];
  scanBytes(Buffer.from(text), find.literals ?? [], (line, n) => {
    const found = find(line);
    const host = found === undefined ? undefined : canonical(found);
    if (host !== undefined) out.push([n, host]);
  });
  return out;
}

describe("a live jail and jail test find the same offenders on the same lines", () => {
  it.each<[string, JailFilter]>([
    ["sshd", { filter: "sshd" }],
    ["sshd-aggressive", { filter: "sshd-aggressive" }],
    ["a fail2ban-style filter", { failRegex: ["NOQUEUE: reject: RCPT from \\S+\\[<HOST>\\]"], datePattern: "{^LN-BEG}" }],
  ])("%s", (_, jail) => {
    for (const seed of [1, 2, 3]) {
      const text = log(3000, seed);
      const want = live(jail, text);
      expect(want.length).toBeGreaterThan(100);
      expect(scanned(jail, text)).toEqual(want);
    }
  });
});
