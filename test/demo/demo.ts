// The fleet demo: a three-host fleet in network namespaces, the example policy applied by the
// controller, and what each host then enforces, proved with real connections from a client.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, createFleet, type Fleet } from "../harness/fleet.js";

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
    fleet = await createFleet([
      { id: "web-1", labels: "role=web" },
      { id: "web-2", labels: "role=web" },
      { id: "db-1", labels: "role=db" },
    ]);
    const f = fleet;
    for (const h of f.hosts) process.stdout.write(`   ${h.id.padEnd(6)} ${h.labels.padEnd(10)} ${h.ip4}  ${h.ip6}\n`);
    process.stdout.write(`   client ${f.net.client.ip4}; nats ${f.nats.url}\n`);
    await f.listen(PORTS.map((p) => `tcp:${p}`));

    say("policy examples/web-server.yaml: role=web gets 22, 80, 443 open, 9100-9102 for monitoring, default drop");
    f.writePolicy("web-server.yaml", readFileSync(join(REPO, "examples/web-server.yaml"), "utf8"));
    await f.startController();
    for (const h of f.hosts) f.startAgent(h);
    const started = Date.now();
    await f.waitInSync();
    process.stdout.write(`   all hosts in sync ${Date.now() - started} ms after the agents started\n`);

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
    say("done; removing the fleet");
  } finally {
    await cleanup();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
