import { hostname, networkInterfaces } from "node:os";
import { Agent, AgentLink, Enforcer, StateStore, nftBinary, nftVersion } from "@fleetwall/agent";
import type { Logger } from "pino";
import { readPem, splitSources, type AgentConfig } from "./config.js";
import { natsFailsafe } from "./nats-url.js";

export const AGENT_VERSION = "0.1.0";

function buildAgent(cfg: AgentConfig, log: Logger, nftVer: string): Agent {
  const nft = nftBinary({ binary: cfg.nft });
  const enforcer = new Enforcer(nft, {
    sshPorts: cfg.sshPort,
    sshSources: splitSources(cfg.sshSource),
    nats: natsFailsafe(cfg.nats),
    dhcp: cfg.dhcp,
  });
  return new Agent(
    {
      hostId: cfg.hostId,
      registration: { labels: cfg.labels, addresses: localAddresses(), agentVersion: AGENT_VERSION, nftVersion: nftVer },
      controllerKey: cfg.controllerKey ? readPem(cfg.controllerKey) : undefined,
      heartbeatMs: cfg.heartbeat,
      driftIntervalMs: cfg.driftInterval,
      now: () => new Date(),
    },
    enforcer,
    new StateStore(cfg.stateDir),
    log,
  );
}

/** `--boot`: restore the last applied ruleset from disk, without the bus, and return. */
export async function bootAgent(cfg: AgentConfig, log: Logger): Promise<boolean> {
  const agent = buildAgent(cfg, log, await nftVersion(nftBinary({ binary: cfg.nft })));
  return agent.restore();
}

export async function runAgent(cfg: AgentConfig, log: Logger, signal: AbortSignal): Promise<void> {
  const agent = buildAgent(cfg, log, await nftVersion(nftBinary({ binary: cfg.nft })));
  await agent.restore();
  const link = await AgentLink.connect({ servers: cfg.nats, hostId: cfg.hostId, log });
  log.info({ host: cfg.hostId, machine: hostname() }, "agent connected");
  try {
    await agent.run(link, signal);
  } finally {
    await link.close();
  }
}

function localAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && !a.internal)
    .map((a) => (a as { address: string }).address)
    .sort();
}
