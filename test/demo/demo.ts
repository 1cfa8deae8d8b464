// The fleet demo: a three-host fleet in network namespaces, the example policy applied by the
// controller, and what each host then enforces, proved with real connections from a client.
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { JAIL_LOG_DIR, REPO, createFleet, type Fleet } from "../harness/fleet.js";
import { attacker } from "../harness/netns.js";
import { waitFor } from "../harness/sh.js";
import { syslogStamp } from "../harness/log-stamp.js";

const PORTS = [22, 80, 443, 3306, 9100];

function say(text: string): void {
  process.stdout.write(`\n== ${text}\n`);
}

async function main(): Promise<void> {
  let fleet: Fleet | undefined;
  const cleanup = async () => {
    await fleet?.destroy();
  };
  process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));
  try {
    say("creating a fleet: nats-server with JetStream, 3 hosts and a client in network namespaces");
    fleet = await createFleet(
      [
        { id: "web-1", labels: "role=web" },
        { id: "web-2", labels: "role=web" },
        { id: "db-1", labels: "role=db" },
      ],
      { attackers: 1 },
    );
    const f = fleet;
    for (const h of f.hosts) process.stdout.write(`   ${h.id.padEnd(6)} ${h.labels.padEnd(10)} ${h.ip4}  ${h.ip6}\n`);
    process.stdout.write(`   client ${f.net.client.ip4}; nats ${f.nats.url}\n`);
    await f.listen(PORTS.map((p) => `tcp:${p}`));

    say("policy examples/web-server.yaml: role=web gets 22, 80, 443 open, 9100-9102 for monitoring, default drop");
    f.writePolicy("web-server.yaml", readFileSync(join(REPO, "examples/web-server.yaml"), "utf8"));
    say("policy examples/ssh-jail.yaml on every host: 5 SSH failures in 10 minutes ban the address fleet-wide");
    for (const h of f.hosts) {
      mkdirSync(f.hostLogDir(h), { recursive: true });
      writeFileSync(join(f.hostLogDir(h), "auth.log"), "");
    }
    f.writePolicy("ssh-jail.yaml", readFileSync(join(REPO, "examples/ssh-jail.yaml"), "utf8").replace("/var/log/auth.log", `${JAIL_LOG_DIR}/auth.log`));
    await f.startController();
    for (const h of f.hosts) f.startAgent(h);
    const started = Date.now();
    await f.waitInSync();
    process.stdout.write(`   all hosts in sync ${Date.now() - started} ms after the agents started\n`);
    // an agent reports its bans once it has read the bans bucket after starting; until then status says "- (loading)"
    await waitFor("every host's bans known", async () => (await f.status()).hosts.every((h) => h.bans !== "Unknown"), 30_000, 100);
    process.stdout.write(`   and their bans known (read from the bans bucket) ${Date.now() - started} ms after\n`);

    say("fleetwall status");
    process.stdout.write(await f.cli(["status", "--nats", f.nats.url]));

    say(`what each host enforces: TCP connections from the client (${f.net.client.ip4})`);
    process.stdout.write(`   ${"host".padEnd(8)}${PORTS.map((p) => String(p).padStart(6)).join("")}\n`);
    for (const h of f.hosts) {
      const r = await f.probe(PORTS.map((p) => `tcp:${h.ip4}:${p}`));
      process.stdout.write(`   ${h.id.padEnd(8)}${PORTS.map((p) => (r[`tcp:${h.ip4}:${p}`] ? "open" : "—").padStart(6)).join("")}\n`);
    }

    say("the rules on web-1 (nft list chain inet fleetwall in_web-servers)");
    process.stdout.write(await f.nft(f.hosts[0]!, ["list", "chain", "inet", "fleetwall", "in_web-servers"]));
    const bad = attacker(1);
    say(`a brute force: ${bad} fails 5 SSH logins on web-1 (lines appended to web-1's auth.log)`);
    await waitFor("jails running", () => f.hosts.every((h) => h.agent?.log().includes('"jail started"')), 10_000);
    const lines = Array.from({ length: 5 }, (_, i) => `${syslogStamp()} web-1 sshd[${900 + i}]: Failed password for invalid user admin from ${bad} port ${50000 + i} ssh2\n`).join("");
    const t0 = Date.now();
    appendFileSync(join(f.hostLogDir(f.hosts[0]!), "auth.log"), lines);
    // when each agent's nft accepted the element, from its own log (same clock): polling nft from
    // here would measure the polling more than the ban
    const at: Record<string, number> = {};
    await waitFor("the ban on every host", () => {
      for (const h of f.hosts) {
        if (h.id in at) continue;
        const line = h.agent?.log().split("\n").find((l) => l.includes('"ban elements applied"') && l.includes(`upsert ${bad}"`));
        if (line) at[h.id] = (JSON.parse(line) as { time: number }).time - t0;
      }
      return Object.keys(at).length === f.hosts.length;
    }, 10_000, 5);
    for (const h of f.hosts) process.stdout.write(`   ${h.id.padEnd(6)} banned ${bad} after ${at[h.id]!.toFixed(0)} ms\n`);
    const after = await f.probe(f.hosts.map((h) => `tcp:${h.ip4}:22@${bad}`), 500);
    const friend = await f.probe(f.hosts.map((h) => `tcp:${h.ip4}:22`), 500);
    process.stdout.write(`   ${bad} reaches port 22 on: ${f.hosts.filter((h) => after[`tcp:${h.ip4}:22@${bad}`]).map((h) => h.id).join(", ") || "no host"}\n`);
    process.stdout.write(`   ${f.net.client.ip4} reaches port 22 on: ${f.hosts.filter((h) => friend[`tcp:${h.ip4}:22`]).map((h) => h.id).join(", ")}\n`);

    say("fleetwall bans list");
    process.stdout.write(await f.cli(["bans", "list", "--nats", f.nats.url]));
    say("done; removing the fleet");
  } finally {
    await cleanup();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
