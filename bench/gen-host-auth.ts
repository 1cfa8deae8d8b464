// A fourth log shape for bench/detect-shapes.ts, written apart from gen-logs.ts and gen-auth-log.ts
// (its own random source, its own mix, its own line formats) so that the filter is measured on a log
// it was not tuned on: a server's whole /var/log/auth.log-like stream where about 70 % of the lines
// are other programs (CRON, systemd, systemd-logind, kernel, sudo, su, postfix, dbus, polkitd) and
// sshd's connections are of many kinds (keys accepted, scanners that never authenticate, password
// guessers, refused keys, too many attempts), IPv4 and IPv6, pids drawn from a small range so that
// they are reused while older connections are still open. Deterministic for a given size and seed.

/** xorshift32: unlike the linear congruential generators of the other generators. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

type Rng = () => number;
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
const int = (r: Rng, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

/** rsyslog's traditional format, one host, a day's seconds advancing irregularly from Mar 3. */
function stamps(r: Rng): () => string {
  let s = 3 * 86400 + 6 * 3600;
  const p = (n: number) => String(n).padStart(2, "0");
  return () => {
    s += r() < 0.7 ? 0 : int(r, 1, 4);
    const day = Math.floor(s / 86400);
    return `Mar ${String(day).padStart(2, " ")} ${p(Math.floor(s / 3600) % 24)}:${p(Math.floor(s / 60) % 60)}:${p(s % 60)}`;
  };
}

const v4 = (r: Rng) => pick(r, ["203.0.113.", "198.51.100.", "198.18.7."]) + int(r, 1, 254);
const v6 = (r: Rng) => `2001:db8:${int(r, 0, 0xfff).toString(16)}:${int(r, 0, 0xffff).toString(16)}::${int(r, 1, 0xffff).toString(16)}`;
const anyAddr = (r: Rng) => (r() < 0.3 ? v6(r) : v4(r));

function noise(r: Rng): string {
  const pid = int(r, 300, 65000);
  switch (int(r, 0, 11)) {
    case 0:
      return `CRON[${pid}]: pam_unix(cron:session): session opened for user root(uid=0) by root(uid=0)`;
    case 1:
      return `CRON[${pid}]: (www-data) CMD (php /var/www/cron.php >/dev/null 2>&1)`;
    case 2:
      return `CRON[${pid}]: pam_unix(cron:session): session closed for user root`;
    case 3:
      return `systemd[1]: Starting ${pick(r, ["apt-daily.service", "logrotate.service", "man-db.service", "phpsessionclean.service"])} - daily job...`;
    case 4:
      return `systemd-logind[${int(r, 500, 700)}]: Removed session ${int(r, 1, 9999)}.`;
    case 5:
      return `kernel: [${int(r, 1, 999999)}.${String(int(r, 0, 999999)).padStart(6, "0")}] [UFW BLOCK] IN=ens3 OUT= SRC=${v4(r)} DST=198.18.7.2 PROTO=TCP SPT=${int(r, 1024, 65535)} DPT=${pick(r, [22, 23, 3389, 5900])} WINDOW=1024 SYN URGP=0`;
    case 6:
      return `sudo[${pid}]:    alice : TTY=pts/${int(r, 0, 3)} ; PWD=/srv ; USER=root ; COMMAND=/usr/bin/journalctl -u sshd`;
    case 7:
      return `sudo[${pid}]: pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)`;
    case 8:
      return `postfix/smtpd[${pid}]: disconnect from unknown[${v4(r)}] ehlo=1 auth=0/1 quit=1 commands=2/3`;
    case 9:
      return `su[${pid}]: pam_unix(su-l:session): session opened for user postgres(uid=114) by alice(uid=1000)`;
    case 10:
      return `dbus-daemon[${int(r, 400, 600)}]: [system] Successfully activated service 'org.freedesktop.timedate1'`;
    default:
      return `polkitd[${int(r, 400, 600)}]: Registered Authentication Agent for unix-session:${int(r, 1, 99)}`;
  }
}

const USERS = ["root", "admin", "user", "test", "postgres", "oracle", "ftpuser", "git", "ubnt", "support", "guest", "deployer"];

/** One sshd connection's lines, in the order OpenSSH writes them. */
function connection(r: Rng): string[] {
  const port = int(r, 1024, 65535);
  const u = pick(r, USERS);
  const x = r();
  if (x < 0.25) {
    // a known key: the legitimate admin logs in and out
    const a = r() < 0.5 ? "198.18.7.10" : "2001:db8:7::10";
    return [
      `Connection from ${a} port ${port} on 198.18.7.2 port 22 rdomain ""`,
      `Accepted publickey for alice from ${a} port ${port} ssh2: ED25519 SHA256:Xk3n1tQ9hY0uJpW2cVbLr8sA7dF6gH5jK4lZ3xC2vB1`,
      "pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)",
      `Received disconnect from ${a} port ${port}:11: disconnected by user`,
      `Disconnected from user alice ${a} port ${port}`,
      "pam_unix(sshd:session): session closed for user alice",
    ];
  }
  const a = anyAddr(r);
  if (x < 0.4) return [`error: kex_exchange_identification: ${pick(r, ["Connection closed by remote host", "client sent invalid protocol identifier \"GET / HTTP/1.1\"", "read: Connection reset by peer"])}`, `Connection closed by ${a} port ${port}`];
  if (x < 0.55) {
    return [
      `Invalid user ${u} from ${a} port ${port}`,
      ...Array.from({ length: int(r, 1, 3) }, () => `Failed password for invalid user ${u} from ${a} port ${port} ssh2`),
      `Received disconnect from ${a} port ${port}:11: Bye Bye [preauth]`,
      `Disconnected from invalid user ${u} ${a} port ${port} [preauth]`,
    ];
  }
  if (x < 0.7) {
    return [
      ...Array.from({ length: 6 }, () => `Failed password for ${u} from ${a} port ${port} ssh2`),
      `error: maximum authentication attempts exceeded for ${u} from ${a} port ${port} ssh2 [preauth]`,
      `Disconnecting authenticating user ${u} ${a} port ${port}: Too many authentication failures [preauth]`,
    ];
  }
  if (x < 0.82) {
    // a valid user offering keys the server does not take: not a failure by itself
    return [
      `Failed publickey for ${u} from ${a} port ${port} ssh2: RSA SHA256:${"q".repeat(10)}${int(r, 1000, 9999)}`,
      `Connection closed by authenticating user ${u} ${a} port ${port} [preauth]`,
    ];
  }
  return [`Connection closed by authenticating user ${u} ${a} port ${port} [preauth]`];
}

/**
 * `lines` lines: ~70 % other programs; sshd connections up to 30 open at once, interleaved, with
 * pids from a range of 400 (reused while others are open, never by two open connections at once),
 * or, `reusePids: false`, a new pid for every connection.
 */
export function hostAuthLog(lines: number, options: { reusePids?: boolean; seed?: number } = {}): string {
  const reuse = options.reusePids ?? true;
  const seed = options.seed ?? 20261206;
  let nextPid = 41000;
  const r = random(seed);
  const now = stamps(r);
  const host = "bastion";
  const out: string[] = [];
  const open: { pid: number; lines: string[] }[] = [];
  const inUse = new Set<number>();
  while (out.length < lines) {
    if (r() < 0.7) {
      out.push(`${now()} ${host} ${noise(r)}`);
      continue;
    }
    while (open.length < 30 && (open.length === 0 || r() < 0.3)) {
      let pid = reuse ? int(r, 41000, 41399) : nextPid++;
      while (inUse.has(pid)) pid = pid === 41399 ? 41000 : pid + 1;
      inUse.add(pid);
      open.push({ pid, lines: connection(r) });
    }
    const i = Math.floor(r() * open.length);
    const c = open[i] as { pid: number; lines: string[] };
    out.push(`${now()} ${host} sshd[${c.pid}]: ${c.lines.shift() as string}`);
    if (!c.lines.length) {
      open.splice(i, 1);
      inUse.delete(c.pid);
    }
  }
  return `${out.join("\n")}\n`;
}
