import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { nkeys } from "@nats-io/transport-node";
import { HOST_ID_PATTERN, HOST_ID_RULE, natsAuthorization, type NatsRole } from "@fleetwall/api";
import { ConfigError } from "./config.js";

/**
 * Creates one nkey per fleetwall process (controller, operator CLI, each agent) in `dir`: the seed
 * files the processes authenticate with (--nats-nkey), and `fleetwall-auth.conf`, the `accounts`
 * block to include in nats-server's configuration (FLEET with JetStream for the controller and
 * operators, AGENTS for the agents). Returns the files written.
 */
export async function writeNatsAuth(dir: string, hostIds: readonly string[]): Promise<string[]> {
  for (const id of hostIds) if (!HOST_ID_PATTERN.test(id)) throw new ConfigError(`--host: "${id}" is not a host id: ${HOST_ID_RULE}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const roles: { file: string; role: NatsRole }[] = [
    { file: "controller.nk", role: { kind: "controller" } },
    { file: "operator.nk", role: { kind: "operator" } },
    ...hostIds.map((hostId) => ({ file: `agent-${hostId}.nk`, role: { kind: "agent", hostId } as NatsRole })),
  ];
  const users: { nkey: string; role: NatsRole }[] = [];
  const written: string[] = [];
  for (const { file, role } of roles) {
    const kp = nkeys.createUser();
    await writeFile(join(dir, file), `${new TextDecoder().decode(kp.getSeed())}\n`, { mode: 0o600 });
    users.push({ nkey: kp.getPublicKey(), role });
    written.push(join(dir, file));
  }
  await writeFile(join(dir, "fleetwall-auth.conf"), natsAuthorization(users), { mode: 0o644 });
  written.push(join(dir, "fleetwall-auth.conf"));
  return written;
}
