// Generated logs of different shapes for bench/detect-shapes.ts, written to be unlike the logs the
// filters were tuned on: syslog lines of many programs, time stamps that move, IPv4 and IPv6, pids
// that wrap. Deterministic for a given size.

const rng = (seed: number) => () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
};

/** A time stamp that moves forward about a second every few lines. */
function clock(start: number) {
  let t = start;
  const mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  return (r: number) => {
    t += Math.floor(r * 1500);
    const d = new Date(t);
    const p = (n: number) => String(n).padStart(2, "0");
    return `${mon[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, " ")} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
  };
}

const addr = (r: () => number) => (r() < 0.2 ? `2001:db8:${Math.floor(r() * 0xffff).toString(16)}::${Math.floor(r() * 0xffff).toString(16)}` : `203.0.113.${1 + Math.floor(r() * 250)}`);

const NOISE = [
  (r: () => number) => `CRON[${1000 + Math.floor(r() * 30000)}]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)`,
  (r: () => number) => `CRON[${1000 + Math.floor(r() * 30000)}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)`,
  () => "systemd[1]: Started session-4711.scope - Session 4711 of User deploy.",
  () => "systemd-logind[612]: New session 4711 of user deploy.",
  (r: () => number) => `kernel: [${(r() * 100000).toFixed(6)}] IN=eth0 OUT= MAC=52:54:00:12:34:56 SRC=${addr(r)} DST=198.18.0.1 LEN=60 PROTO=TCP SPT=40000 DPT=23 SYN`,
  (r: () => number) => `sudo[${1000 + Math.floor(r() * 30000)}]:   deploy : TTY=pts/0 ; PWD=/home/deploy ; USER=root ; COMMAND=/usr/bin/systemctl restart app`,
  (r: () => number) => `postfix/qmgr[${900 + Math.floor(r() * 100)}]: 4F2A11C0${Math.floor(r() * 99)}: removed`,
  (r: () => number) => `dhclient[733]: DHCPREQUEST for 198.18.0.${Math.floor(r() * 250)} on eth0 to 198.18.0.1 port 67`,
];

/** One sshd connection's lines, in OpenSSH's order. */
function sshSession(r: () => number, fail: boolean): string[] {
  const a = fail ? addr(r) : `198.18.0.${1 + Math.floor(r() * 200)}`;
  const port = 30000 + Math.floor(r() * 30000);
  const u = ["root", "admin", "oracle", "ubuntu", "pi", "test"][Math.floor(r() * 6)] as string;
  if (!fail) return [`Accepted publickey for deploy from ${a} port ${port} ssh2: ED25519 SHA256:q2w3e4r5`, "pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)", `Received disconnect from ${a} port ${port}:11: disconnected by user`, `Disconnected from user deploy ${a} port ${port}`];
  const n = 1 + Math.floor(r() * 4);
  return [
    `Invalid user ${u} from ${a} port ${port}`,
    `pam_unix(sshd:auth): check pass; user unknown`,
    `pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=${a}`,
    ...Array.from({ length: n }, () => `Failed password for invalid user ${u} from ${a} port ${port} ssh2`),
    `Connection closed by invalid user ${u} ${a} port ${port} [preauth]`,
  ];
}

export type Shape = "noise" | "failures" | "sessions";

/**
 * - noise: 97 % other programs' lines, a few sshd logins and failures;
 * - failures: almost every line an sshd failure, one connection after another;
 * - sessions: up to 60 sshd connections open at once, interleaved, pids wrapping every 5,000
 *   lines (pid_max under a brute force), logins and failures mixed.
 */
export function shapedLog(shape: Shape, lines: number, seed = 7): string {
  const r = rng(seed);
  const now = clock(Date.UTC(2026, 10, 1));
  const out: string[] = [];
  const host = "web-01";
  let pid = 20000;
  const open: { pid: number; lines: string[] }[] = [];
  while (out.length < lines) {
    if (shape === "noise" && r() < 0.97) {
      out.push(`${now(r())} ${host} ${(NOISE[Math.floor(r() * NOISE.length)] as (r: () => number) => string)(r)}`);
      continue;
    }
    const want = shape === "sessions" ? 60 : 1;
    while (open.length < want) {
      pid = shape === "sessions" && pid >= 25000 ? 20000 : pid + 1 + Math.floor(r() * 3);
      open.push({ pid, lines: sshSession(r, shape === "failures" || r() < 0.6) });
    }
    const i = Math.floor(r() * open.length);
    const s = open[i] as { pid: number; lines: string[] };
    out.push(`${now(r())} ${host} sshd[${s.pid}]: ${s.lines.shift() as string}`);
    if (!s.lines.length) open.splice(i, 1);
  }
  return `${out.join("\n")}\n`;
}

/** Mail and web service lines for imported filters (postfix, dovecot, nginx-limit-req), in noise. */
export function servicesLog(lines: number, seed = 11): { mail: string; nginx: string } {
  const r = rng(seed);
  const now = clock(Date.UTC(2026, 10, 1));
  const mail: string[] = [];
  const nginx: string[] = [];
  for (let i = 0; i < lines; i++) {
    const x = r();
    const a = addr(r);
    if (x < 0.1) mail.push(`${now(r())} mx postfix/smtpd[${2000 + i}]: NOQUEUE: reject: RCPT from unknown[${a}]: 554 5.7.1 <x@example.org>: Relay access denied; from=<spam@example.com> to=<x@example.org> proto=ESMTP helo=<spam>`);
    else if (x < 0.2) mail.push(`${now(r())} mx dovecot: auth-worker(${3000 + i}): pam(user${i % 50},${a}): unknown user`);
    else if (x < 0.6) mail.push(`${now(r())} mx postfix/smtpd[${2000 + i}]: connect from unknown[${a}]`);
    else mail.push(`${now(r())} mx ${(NOISE[Math.floor(r() * NOISE.length)] as (r: () => number) => string)(r)}`);
    const d = new Date(Date.UTC(2026, 10, 1) + i * 500).toISOString();
    nginx.push(
      x < 0.2
        ? `${d.slice(0, 10).replace(/-/g, "/")} ${d.slice(11, 19)} [error] 1234#0: *${i} limiting requests, excess: 1.${i % 999} by zone "one", client: ${a}, server: example.com, request: "GET / HTTP/1.1", host: "example.com"`
        : `${d.slice(0, 10).replace(/-/g, "/")} ${d.slice(11, 19)} [warn] 1234#0: *${i} an upstream response is buffered to a temporary file, client: ${a}, server: example.com`,
    );
  }
  return { mail: `${mail.join("\n")}\n`, nginx: `${nginx.join("\n")}\n` };
}
