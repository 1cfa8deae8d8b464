import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileFilter } from "./filters.js";
import { parseFailedFor } from "./sshd-filter-failed.js";
import { MAX_SESSIONS, sessionStore, splitSession, sshdFilter } from "./sshd-filter.js";
import { findReference, type Found } from "./sshd-rules.js";

const V = "198.18.77.7"; // the victim an attacker names
const A = "203.0.113.9"; // the attacker's real address

describe("Failed … for lines, by OpenSSH's format", () => {
  it.each([
    ["Failed password for root from 203.0.113.9 port 2 ssh2", A],
    ["Failed password for invalid user a from 198.18.77.7 port 22 ssh2: b from 203.0.113.9 port 4 ssh2", A],
    ["Failed password for invalid user x from 198.18.77.7 port 22 ssh2 from 203.0.113.9 port 4 ssh2", A],
    ["Failed none for invalid user from 198.18.77.7 from 203.0.113.9 port 4 ssh2", A],
    ["Failed keyboard-interactive/pam for invalid user a from 198.18.77.7 port 22 ssh2 from 203.0.113.9 port 4 ssh2", A],
    ["Failed publickey for invalid user a from 198.18.77.7 port 22 ssh2: b from 203.0.113.9 port 4 ssh2: RSA SHA256:v3dpapGleDaUKf", A],
    ["Failed publickey for git from 203.0.113.9 port 4 ssh2: ECDSA 0e:ff:01:02", A],
    ['Failed hostbased for dan from 203.0.113.9 port 4 ssh2: RSA 8c:e3:aa:0f, client user "dan", client host "h"', A],
    ["Failed password for invalid user ROOT from 203.0.113.9 port 12345", A],
    ["Failed password for invalid user ROOT from 203.0.113.9", A],
  ])("%s → %s", (content, host) => {
    expect(parseFailedFor(content)).toMatchObject({ kind: "found", host });
  });

  it.each([
    // auth info that holds client-chosen text: both addresses parse as sshd's own
    ['Failed hostbased for dan from 198.18.77.7 port 22 ssh2: RSA 8c:e3, client user "x", client host "y" from 203.0.113.9 port 4 ssh2: RSA 8c:e3, client user "dan", client host "h"'],
    ["Failed keyboard-interactive for a from 198.18.77.7 port 22 ssh2: b from 203.0.113.9 port 4 ssh2: c"],
    ["Failed password for user from 198.18.77.7 port 20000 ssh1: ruser x from 203.0.113.9 port 4 ssh1: ruser y"],
  ])("two candidate addresses are ambiguous: %s", (content) => {
    expect(parseFailedFor(content)).toMatchObject({ kind: "ambiguous" });
  });

  it("an ambiguous line is no one's failure, and it is counted", () => {
    let ambiguous = 0;
    const f = sshdFilter({ onAmbiguous: () => (ambiguous += 1) });
    const line = `Dec  6 01:00:00 h sshd[7]: Failed keyboard-interactive for a from ${V} port 22 ssh2: b from ${A} port 4 ssh2: c`;
    expect(f(line)).toBeUndefined();
    expect(ambiguous).toBe(1);
  });
});

describe("a user name cannot place an address", () => {
  it.each([
    `h sshd[7]: Connection closed by invalid user a ${V} on ${A} port 4 [preauth]`,
    `h sshd[7]: Disconnected from authenticating user a ${V} on ${A} port 4 [preauth]`,
    `h sshd[7]: Invalid user a from ${V} on ${A} port 4`,
    `h sshd[7]: Failed password for invalid user a from ${V} port 22 ssh2: b from ${A} port 4 ssh2`,
  ])("%s", (line) => {
    for (const mode of ["sshd", "sshd-ddos", "sshd-extra", "sshd-aggressive"]) expect(compileFilter(mode, [])(line), mode).not.toBe(V);
  });
});

describe("only sshd's lines count", () => {
  it.each([
    `[Dec  6 01:00:00] h sshd[2]: Invalid user a from ${A} port 2`,
    `<38>Dec  6 01:00:00 h sshd[2]: Invalid user a from ${A} port 2`,
    `2026-12-06T01:00:00.123456+00:00 h sshd-session[2]: Invalid user a from ${A} port 2`,
    `2026-12-06T01:00:00+0000 h sshd[2]: Invalid user a from ${A} port 2`,
    `Sun 2026-12-06 01:00:00 UTC h sshd[2]: Invalid user a from ${A} port 2`,
    `Dec 06 01:00:00.123456 h sshd[2]: Invalid user a from ${A} port 2`,
    `<38>1 2026-12-06T01:00:00Z h sshd 2 - - Invalid user a from ${A} port 2`,
    // the journal source's lines: host and tag, no time stamp
    `h sshd[2]: Invalid user a from ${A} port 2`,
    `sshd[2]: Invalid user a from ${A} port 2`,
  ])("a time stamp and host name before the tag: %s", (line) => {
    expect(compileFilter("sshd", [])(line)).toBe(A);
  });

  it.each([
    `Dec  6 01:00:00 h nginx[1]: GET /x sshd[2]: Failed password for root from ${V} port 2 ssh2`,
    `Dec  6 01:00:00 h logger: sshd[2]: Failed password for root from ${V} port 2 ssh2`,
    `Dec  6 01:00:00 h app[3]: note sshd[2]: Invalid user a from ${V} port 2`,
    `Dec  6 01:00:00 h a b c d e f sshd[2]: Invalid user a from ${V} port 2`,
    `Dec  6 01:00:00 h app[3] sshd[2]: Invalid user a from ${V} port 2`,
    // another program's line whose message starts like sshd's, in every header syslog writes
    `<13>1 2026-12-06T01:00:00Z h1 nginx 123 - - sshd[1]: Failed password for root from ${V} port 2 ssh2`,
    `<13>1 2026-12-06T01:00:00Z h1 nginx - - - sshd[1]: Failed password for root from ${V} port 2 ssh2`,
    `Dec  6 01:00:00 h1 app sshd[1]: Failed password for root from ${V} port 2 ssh2`,
    `2026-12-06T01:00:00+00:00 h1 app sshd[1]: Failed password for root from ${V} port 2 ssh2`,
    `h1 app sshd[1]: Failed password for root from ${V} port 2 ssh2`,
    `<13>h1 app sshd[1]: Failed password for root from ${V} port 2 ssh2`,
    `${A} - - [06/Dec/2026:01:00:00 +0000] "GET /x sshd[1]: Failed password for root from ${V} port 2 ssh2" 404 0`,
    `"GET /x sshd[1]: Failed password for root from ${V} port 2 ssh2`,
  ])("%s", (line) => {
    expect(splitSession(line)).toBeUndefined();
    expect(compileFilter("sshd-aggressive", [])(line)).toBeUndefined();
  });
});

/** Every method OpenSSH logs `Accepted` with (auth.c: `Accepted %s for %s%.100s from %.200s port %d ssh2%s%s`). */
const ACCEPTED: ((addr: string) => string)[] = [
  (a) => `Accepted publickey for deploy from ${a} port 5000 ssh2: ED25519 SHA256:def`,
  (a) => `Accepted password for deploy from ${a} port 5000 ssh2`,
  (a) => `Accepted keyboard-interactive/pam for deploy from ${a} port 5000 ssh2`,
  (a) => `Accepted keyboard-interactive/bsdauth for deploy from ${a} port 5000 ssh2`,
  (a) => `Accepted gssapi-with-mic for deploy from ${a} port 5000 ssh2`,
  (a) => `Accepted hostbased for deploy from ${a} port 5000 ssh2: RSA SHA256:x, client user "deploy", client host "h"`,
  (a) => `Accepted none for deploy from ${a} port 5000 ssh2`,
];
const accepted = (addr: string, i: number): string => (ACCEPTED[i % ACCEPTED.length] as (a: string) => string)(addr);

/** One connection's lines: a legitimate login, or an attacker's failures. */
const legit = (pid: number, addr: string, variant: number): string[] => {
  const p = `h sshd[${pid}]:`;
  const lines = [
    ...(variant & 1 ? [`${p} Connection from ${addr} port 5000 on 198.18.0.1 port 22 rdomain ""`] : []),
    ...(variant & 2 ? [`${p} Failed publickey for deploy from ${addr} port 5000 ssh2: RSA SHA256:abc`] : []),
    `${p} ${accepted(addr, variant >> 2)}`,
    `${p} pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)`,
    `${p} Received disconnect from ${addr} port 5000:11: disconnected by user`,
    `${p} Disconnected from user deploy ${addr} port 5000`,
  ];
  return lines;
};
const attack = (pid: number, addr: string, variant: number): string[] => {
  const p = `h sshd[${pid}]:`;
  const all = [
    `${p} Invalid user admin from ${addr} port 6000`,
    `${p} pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=${addr}  user=root`,
    `${p} Failed password for root from ${addr} port 6000 ssh2`,
    `${p} Failed password for invalid user oracle from ${addr} port 6000 ssh2`,
    `${p} Disconnecting: Too many authentication failures for root [preauth]`,
    `${p} error: kex_exchange_identification: Connection closed by remote host`,
    `${p} Connection closed by authenticating user root ${addr} port 6000 [preauth]`,
  ];
  // some attacks never name their address: a pending failure left on the pid
  return variant % 3 === 0 ? all.slice(4, 6) : all.filter((_, i) => (variant >> i) & 1);
};

describe("sessions are a pid and an address", () => {
  it("a login on a reused pid is not a failure of the address that logged in", () => {
    for (const mode of ["sshd", "sshd-ddos", "sshd-extra", "sshd-aggressive"]) {
      const f = compileFilter(mode, []);
      for (const l of attack(42, A, 0b1111100)) f(l);
      for (const l of legit(42, "198.18.0.5", 0)) expect(f(l), `${mode}: ${l}`).toBeUndefined();
      for (const l of attack(43, A, 0)) f(l);
      for (const l of legit(43, "198.18.0.5", 3)) expect(f(l), `${mode}: ${l}`).toBeUndefined();
    }
  });

  const MODES = ["sshd", "sshd-ddos", "sshd-extra", "sshd-aggressive"];
  it.each(MODES.flatMap((mode) => ACCEPTED.map((_, i) => [mode, accepted("198.18.0.5", i)])))("%s: a pending failure of a previous connection does not make %s a failure", (mode, login) => {
    const f = compileFilter(mode, []);
    const p = "2026-12-06T07:32:01.000000+00:00 web-7 sshd[4003]:";
    expect(f(`${p} Disconnecting: Too many authentication failures [preauth]`)).toBeUndefined();
    expect(f(`${p} ${login}`)).toBeUndefined();
    expect(f(`${p} Received disconnect from 198.18.0.5 port 43504:11: disconnected by user`)).toBeUndefined();
    expect(f(`${p} Disconnected from user deploy 198.18.0.5 port 43504`)).toBeUndefined();
  });

  it.each(["sshd-ddos", "sshd-aggressive"])("%s: a line that ends a connection ends its session: the next connection on the pid is not charged to it", (mode) => {
    const f = compileFilter(mode, []);
    const p = "2026-12-06T07:35:01.000000+00:00 web-7 sshd[5005]:";
    expect(f(`${p} error: kex_exchange_identification: client sent invalid protocol identifier "GET / HTTP/1.1"`)).toBeUndefined();
    expect(f(`${p} banner exchange: Connection from 198.18.0.5 port 53694: invalid format`)).toBe("198.18.0.5");
    // a new connection on the same pid: its address-less line waits for its own address
    expect(f(`${p} error: kex_exchange_identification: Connection closed by remote host`)).toBeUndefined();
    expect(f(`${p} Connection closed by 203.0.113.9 port 55559`)).toBe("203.0.113.9");
    for (const end of ["Did not receive identification string from 198.18.0.6", "Bad protocol version identification 'x' from 198.18.0.6 port 4", "Unable to negotiate with 198.18.0.6 port 4: no matching key exchange method found."]) {
      const g = compileFilter(mode, []);
      g(`${p} ${end}`);
      expect(g(`${p} error: kex_exchange_identification: Connection closed by remote host`), end).toBeUndefined();
      expect(g(`${p} Connection closed by 203.0.113.9 port 55559`), end).toBe("203.0.113.9");
    }
  });

  it("property: interleaved sessions with reused pids never make a legitimate address a failure", () => {
    const session = fc.record({
      pid: fc.integer({ min: 1, max: 4 }),
      good: fc.boolean(),
      addr: fc.integer({ min: 0, max: 3 }),
      variant: fc.integer({ min: 0, max: 127 }),
      cut: fc.integer({ min: 1, max: 8 }),
    });
    const goodAddr = (i: number) => `198.18.0.${i + 10}`;
    fc.assert(
      fc.property(fc.array(session, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 200 }), fc.constantFrom("sshd", "sshd-ddos", "sshd-extra", "sshd-aggressive"), (sessions, picks, mode) => {
        // each session's lines in order; attackers' sessions may stop anywhere (lines lost, pid reused)
        const queues = sessions.map((s) => (s.good ? legit(s.pid, goodAddr(s.addr), s.variant) : attack(s.pid, `203.0.113.${s.addr + 1}`, s.variant).slice(0, s.cut)));
        const f = compileFilter(mode, []);
        const lines: string[] = [];
        // interleave: only sessions with different pids are open at once (a pid is one process)
        const open = new Map<number, string[]>();
        let next = 0;
        for (let step = 0; next < queues.length || open.size; step++) {
          const s = sessions[next];
          if (s && !open.has(s.pid)) open.set(s.pid, [...(queues[next++] as string[])]);
          const pids = [...open.keys()];
          const pid = pids[(picks[step % Math.max(1, picks.length)] ?? 0) % pids.length] as number;
          const q = open.get(pid) as string[];
          lines.push(q.shift() as string);
          if (!q.length) open.delete(pid);
        }
        for (const l of lines) {
          const host = f(l);
          if (host) expect(host.startsWith("198.18."), `${mode}: ${host} from ${l}\n${lines.join("\n")}`).toBe(false);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe("the session table", () => {
  const find = findReference("aggressive");
  const found = (content: string) => find(content) as Found;

  it("holds at most MAX_SESSIONS sessions, the oldest going first", () => {
    const store = sessionStore();
    const pending = found("Disconnecting: Too many authentication failures [preauth]");
    for (let pid = 0; pid < MAX_SESSIONS * 2; pid++) store(`h sshd ${pid}`, pending, 0);
    expect(store.size).toBe(MAX_SESSIONS);
  });

  it.each([
    "Connection closed by 203.0.113.9 port 4 [preauth]",
    "Connection reset by 203.0.113.9 port 4",
    "Disconnected from authenticating user root 203.0.113.9 port 4 [preauth]",
    "Received disconnect from 203.0.113.9 port 4:11: disconnected by user",
    "Received disconnect from 203.0.113.9 port 4:11: Bye Bye [preauth]",
    "Accepted keyboard-interactive/pam for deploy from 203.0.113.9 port 4 ssh2",
    "banner exchange: Connection from 203.0.113.9 port 4: invalid format",
    "Did not receive identification string from 203.0.113.9",
    "Bad protocol version identification 'x' from 203.0.113.9 port 4",
    "Unable to negotiate with 203.0.113.9 port 4: no matching key exchange method found.",
    "Read from socket failed: Connection reset by peer",
  ])("a line that ends the connection frees its session: %s", (end) => {
    const store = sessionStore();
    const f = found(end);
    expect(f, end).toBeDefined();
    store("h sshd 1", found("Disconnecting: Too many authentication failures [preauth]"), 0);
    store("h sshd 2", found("Invalid user a from 203.0.113.9 port 4"), 0);
    expect(store.size).toBe(2);
    store("h sshd 1", f, 0);
    store("h sshd 2", f, 0);
    expect(store.size).toBe(0);
  });
});

