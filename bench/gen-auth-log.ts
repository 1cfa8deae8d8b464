// Writes a realistic sshd auth log: failures of many kinds from 500 attacker addresses mixed with
// ordinary traffic. Used by detect.ts; deterministic for a given line count.
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
  for (let i = 0; i < lines; i += 1) {
    const sec = i % 60;
    const min = Math.floor(i / 60) % 60;
    const stamp = `Nov 27 10:${String(min).padStart(2, "0")}:${String(sec).padStart(2, "0")} web-1 sshd[${10000 + (i % 5000)}]:`;
    const a = attacker(rand(500));
    const u = users[rand(users.length)];
    switch (rand(10)) {
      case 0:
        out.push(`${stamp} Failed password for invalid user ${u} from ${a} port ${30000 + rand(30000)} ssh2`);
        break;
      case 1:
        out.push(`${stamp} Failed password for ${u} from ${a} port ${30000 + rand(30000)} ssh2`);
        break;
      case 2:
        out.push(`${stamp} Invalid user ${u} from ${a} port ${30000 + rand(30000)}`);
        break;
      case 3:
        out.push(`${stamp} error: maximum authentication attempts exceeded for ${u} from ${a} port ${30000 + rand(30000)} ssh2 [preauth]`);
        break;
      case 4:
        out.push(`${stamp} Accepted publickey for deploy from 198.18.0.${1 + rand(200)} port ${30000 + rand(30000)} ssh2: ED25519 SHA256:abcdef`);
        break;
      case 5:
        out.push(`${stamp} pam_unix(sshd:session): session opened for user deploy(uid=1000) by (uid=0)`);
        break;
      case 6:
        out.push(`${stamp} Received disconnect from 198.18.0.${1 + rand(200)} port ${30000 + rand(30000)}:11: disconnected by user`);
        break;
      case 7:
        out.push(`${stamp} Connection closed by 198.18.0.${1 + rand(200)} port ${30000 + rand(30000)}`);
        break;
      default:
        out.push(`Nov 27 10:${String(min).padStart(2, "0")}:${String(sec).padStart(2, "0")} web-1 CRON[${20000 + rand(1000)}]: pam_unix(cron:session): session closed for user root`);
    }
  }
  return `${out.join("\n")}\n`;
}

if (process.argv[2]) writeFileSync(process.argv[2], authLog(Number(process.argv[3] ?? 200_000)));
