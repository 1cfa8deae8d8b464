// Writes a realistic sshd auth log: sessions of password guessers (500 attacker addresses, IPv4 and
// IPv6) interleaved with ordinary logins and cron noise. Each sshd pid is one connection, whose lines
// come in the order OpenSSH writes them, at most 40 connections open at once (fail2ban remembers
// 100). Used by detect.ts; deterministic for a given line count.
import { writeFileSync } from "node:fs";

export function authLog(lines: number): string {
  const out: string[] = [];
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const attacker = (i: number) => (i % 5 === 0 ? `2001:db8:a::${(i + 1).toString(16)}` : `203.0.113.${(i % 250) + 1}`);
  const users = ["root", "admin", "oracle", "test", "ubuntu", "git", "pi"];
  let nextPid = 10_000;
  const open: string[][] = [];

  // a connection's lines, in order
  const connection = (): string[] => {
    const port = 30_000 + rand(30_000);
    const u = users[rand(users.length)] as string;
    switch (rand(5)) {
      case 0: {
        const a = attacker(rand(500));
        const tries = 1 + rand(3);
        return [
          `Invalid user ${u} from ${a} port ${port}`,
          ...Array.from({ length: tries }, () => `Failed password for invalid user ${u} from ${a} port ${port} ssh2`),
          `Connection closed by invalid user ${u} ${a} port ${port} [preauth]`,
        ];
      }
      case 1: {
        const a = attacker(rand(500));
        return [
          ...Array.from({ length: 1 + rand(5) }, () => `Failed password for ${u} from ${a} port ${port} ssh2`),
          `error: maximum authentication attempts exceeded for ${u} from ${a} port ${port} ssh2 [preauth]`,
          `Disconnecting authenticating user ${u} ${a} port ${port}: Too many authentication failures [preauth]`,
        ];
      }
      case 2: {
        const a = attacker(rand(500));
        return [
          `pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=${a}  user=${u}`,
          `Failed password for ${u} from ${a} port ${port} ssh2`,
          `Received disconnect from ${a} port ${port}:11: Bye Bye [preauth]`,
        ];
      }
      default: {
        const a = `198.18.0.${1 + rand(200)}`;
        return [
          `Accepted publickey for deploy from ${a} port ${port} ssh2: ED25519 SHA256:abcdef`,
          "pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)",
          `Received disconnect from ${a} port ${port}:11: disconnected by user`,
          `Disconnected from user deploy ${a} port ${port}`,
          "pam_unix(sshd:session): session closed for user deploy",
        ];
      }
    }
  };

  for (let i = 0; i < lines; i += 1) {
    const stamp = `Nov 27 10:${String(Math.floor(i / 60) % 60).padStart(2, "0")}:${String(i % 60).padStart(2, "0")}`;
    if (rand(10) === 0) {
      out.push(`${stamp} web-1 CRON[${20_000 + rand(1000)}]: pam_unix(cron:session): session closed for user root`);
      continue;
    }
    if (open.length < 40 && (open.length === 0 || rand(4) === 0)) open.push([`${nextPid++}`, ...connection()]);
    const k = rand(open.length);
    const session = open[k] as string[];
    out.push(`${stamp} web-1 sshd[${session[0]}]: ${session.splice(1, 1)[0]}`);
    if (session.length === 1) open.splice(k, 1);
  }
  return `${out.join("\n")}\n`;
}

if (process.argv[2]) writeFileSync(process.argv[2], authLog(Number(process.argv[3] ?? 200_000)));
