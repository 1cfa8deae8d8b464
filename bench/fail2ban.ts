// fail2ban 1.0.2 for the side-by-side benchmarks: a private copy of Debian's configuration (nothing
// system-wide is touched), one sshd jail with the nftables-allports action, the server running in a
// network namespace of its own (see ../shared/PEERS.md).
import { execFileSync, spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../test/harness/sh.js";

export interface Fail2ban {
  /** The auth log the sshd jail follows. */
  authLog: string;
  /** fail2ban-client with the private configuration, inside the namespace. */
  client(...args: string[]): string;
  /** True when `addr` is in the jail's nftables set. */
  banned(addr: string): boolean;
  stop(): Promise<void>;
}

export async function startFail2ban(options: { maxRetry: number; backend: "pyinotify" | "polling" }): Promise<Fail2ban> {
  const ns = `fwf2b${process.pid}`;
  const base = mkdtempSync(join(tmpdir(), "fleetwall-f2b-"));
  const etc = join(base, "etc");
  cpSync("/etc/fail2ban", etc, { recursive: true });
  rmSync(join(etc, "jail.d", "defaults-debian.conf"), { force: true });
  mkdirSync(join(base, "run"));
  const authLog = join(base, "auth.log");
  writeFileSync(authLog, "");
  writeFileSync(join(etc, "fail2ban.local"), `[DEFAULT]\nlogtarget = ${base}/run/fail2ban.log\nsocket = ${base}/run/fail2ban.sock\npidfile = ${base}/run/fail2ban.pid\ndbfile = ${base}/run/fail2ban.sqlite3\n`);
  writeFileSync(join(etc, "jail.local"), `[DEFAULT]\nbanaction = nftables-allports\nbackend = ${options.backend}\nusedns = no\nbantime = 1h\nfindtime = 10m\n[sshd]\nenabled = true\nfilter = sshd\nport = ssh\nlogpath = ${authLog}\nmaxretry = ${options.maxRetry}\n`);
  execFileSync("ip", ["netns", "add", ns]);
  const server = spawn("ip", ["netns", "exec", ns, "fail2ban-server", "-f", "-x", "-c", etc], { stdio: "ignore" });
  const client = (...args: string[]) => execFileSync("ip", ["netns", "exec", ns, "fail2ban-client", "-c", etc, ...args], { maxBuffer: 1 << 26 }).toString();
  const stop = async () => {
    server.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 1000));
    execFileSync("ip", ["netns", "del", ns]);
    rmSync(base, { recursive: true, force: true });
  };
  try {
    await waitFor("fail2ban sshd jail", () => {
      try {
        return client("status", "sshd").includes("Currently banned");
      } catch {
        return false;
      }
    }, 30_000, 200);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    authLog,
    client,
    banned(addr) {
      const set = addr.includes(":") ? "addr6-set-sshd" : "addr-set-sshd";
      try {
        execFileSync("ip", ["netns", "exec", ns, "nft", "get", "element", "inet", "f2b-table", set, `{ ${addr} }`], { stdio: "ignore" });
        return true;
      } catch {
        return false;
      }
    },
    stop,
  };
}
