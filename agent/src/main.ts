import { hostname, networkInterfaces } from "node:os";
import { existsSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { FLEETWALL_VERSION, agentInboxPrefix } from "@fleetwall/api";
import { connectOptions, natsEndpoints, newRegistry, rootLogger, serveObservability } from "@fleetwall/runtime";
import type { Logger } from "pino";
import { Agent } from "./agent.js";
import { BanSync } from "./bans.js";
import { splitSources, type AgentConfig } from "./config.js";
import { Defender } from "./defender.js";
import { Enforcer } from "./enforcer.js";
import { JailRunner } from "./jails.js";
import { AgentLink } from "./link.js";
import { agentMetrics } from "./metrics.js";
import { listTable, nftBinary, nftVersion, type NftRunner } from "./nft.js";
import { BANS_TABLE } from "./bans-render.js";
import { FAMILY, TABLE } from "./render.js";
import { AGENT_STATE_FILES, StateStore } from "./state-store.js";

/** The agent process: signals, the root logger. */
export async function agentMain(cfg: Readonly<AgentConfig>): Promise<void> {
  const ac = new AbortController();
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => ac.abort());
  await runAgent(cfg, rootLogger(cfg.logLevel), ac.signal);
}

/** `--boot`: the logger, then bootAgent. */
export async function agentBootMain(cfg: Readonly<AgentConfig>): Promise<void> {
  const log = rootLogger(cfg.logLevel);
  // nothing saved yet (a first boot) is not an error: the agent will get its state from the bus
  if (!(await bootAgent(cfg, log))) log.info("nothing to restore");
}

interface Built {
  agent: Agent;
  nft: NftRunner;
  defender: Defender;
  jails: JailRunner | undefined;
}

function buildAgent(cfg: Readonly<AgentConfig>, log: Logger, nftVer: string, withJails: boolean): Built {
  const nft = nftBinary({ binary: cfg.nft });
  const store = new StateStore(cfg.stateDir);
  // the agent is made below; the defender and jails reach it through this late-bound reference
  let agent: Agent | undefined;
  const defender = new Defender(new BanSync(nft, log), cfg.hostId, cfg.labels, () => agent?.trustedKey(), log);
  const jails = withJails ? new JailRunner(store, log, (ban, jail) => agent?.onJailBan(ban, jail)) : undefined;
  const enforcer = new Enforcer(nft, {
    sshPorts: cfg.sshPort,
    sshSources: splitSources(cfg.sshSource),
    nats: cfg.natsFailsafe ? natsEndpoints(cfg.nats) : [],
    dhcp: cfg.dhcp,
  });
  agent = new Agent(
    {
      hostId: cfg.hostId,
      registration: { labels: cfg.labels, addresses: localAddresses(), agentVersion: FLEETWALL_VERSION, nftVersion: nftVer },
      controllerKey: cfg.controllerKey ? readFileSync(cfg.controllerKey, "utf8") : undefined,
      heartbeatMs: cfg.heartbeat,
      driftIntervalMs: cfg.driftInterval,
      confirmWindowMs: cfg.confirmWindow,
      now: () => new Date(),
    },
    enforcer,
    store,
    log,
    defender,
    jails,
  );
  return { agent, nft, defender, jails };
}

/** `--boot`: restore the last applied ruleset from disk, without the bus, and return. */
export async function bootAgent(cfg: Readonly<AgentConfig>, log: Logger): Promise<boolean> {
  // no jails at boot: this process restores the rules and exits; the service then starts the agent
  const { agent, nft } = buildAgent(cfg, log, await nftVersion(nftBinary({ binary: cfg.nft })), false);
  try {
    return await agent.restore();
  } finally {
    nft.close?.();
  }
}

export async function runAgent(cfg: Readonly<AgentConfig>, log: Logger, signal: AbortSignal): Promise<void> {
  const { agent, nft, defender, jails } = buildAgent(cfg, log, await nftVersion(nftBinary({ binary: cfg.nft })), true);
  await agent.restore();
  let link: AgentLink | undefined;
  const registry = newRegistry();
  agentMetrics(registry, { agent, nft, defender, jails, link: () => link });
  const http = await serveObservability(cfg.listen, registry, () => agent.appliedRevision > 0 && !!link && !link.nc.isClosed());
  link = await AgentLink.connect({ connection: connectOptions(cfg, `fleetwall-agent-${cfg.hostId}`, agentInboxPrefix(cfg.hostId)), hostId: cfg.hostId, log });
  log.info({ host: cfg.hostId, machine: hostname() }, "agent connected");
  try {
    await agent.run(link, signal);
  } finally {
    await agent.shutdown();
    await link.close();
    http.close();
    nft.close?.();
  }
}

function localAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && !a.internal)
    .map((a) => (a as { address: string }).address)
    .sort();
}

/** Removes the agent's tables and state files; other tables and files are never touched. */
export async function uninstallAgent(stateDir: string, nftPath: string): Promise<string[]> {
  const nft = nftBinary({ binary: nftPath });
  const removed: string[] = [];
  for (const table of [TABLE, BANS_TABLE]) {
    if (await listTable(nft, FAMILY, table)) {
      await nft.run(["delete", "table", FAMILY, table]);
      removed.push(`table ${FAMILY} ${table}`);
    }
  }
  for (const file of AGENT_STATE_FILES) {
    const path = join(stateDir, file);
    if (existsSync(path)) {
      await rm(path);
      removed.push(path);
    }
  }
  return removed;
}
