import { hostname, networkInterfaces } from "node:os";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { AGENT_STATE_FILES, Agent, AgentLink, BANS_TABLE, BanSync, Defender, FAMILY, JailRunner, MemoryBackend, NftBackend, StateStore, TABLE, listTable, nftBinary, nftVersion, type AgentBus, type FirewallBackend, type NftRunner } from "@fleetwall/agent";
import { FLEETWALL_VERSION, agentInboxPrefix } from "@fleetwall/api";
import type { Logger } from "pino";
import { readPem, splitSources, type AgentConfig } from "./config.js";
import { counterOf, gaugeOf, latencyOf, newRegistry, serveObservability } from "./observe.js";
import { natsFailsafe } from "./nats-url.js";
import { connectOptions } from "./nats-access.js";


interface Built {
  agent: Agent;
  nft: NftRunner;
  backend: FirewallBackend;
  defender: Defender;
  jails: JailRunner | undefined;
}

function buildAgent(cfg: AgentConfig, log: Logger, nftVer: string, withJails: boolean): Built {
  const nft = nftBinary({ binary: cfg.nft });
  // a dry run keeps its state apart: what it "applied" must not be restored at the next boot
  const store = new StateStore(cfg.dryRun ? mkdtempSync(join(tmpdir(), "fleetwall-dry-run-")) : cfg.stateDir);
  // the agent is made below; the defender and jails reach it through this late-bound reference
  let agent: Agent | undefined;
  const failsafe = { sshPorts: cfg.sshPort, sshSources: splitSources(cfg.sshSource), nats: cfg.natsFailsafe ? natsFailsafe(cfg.nats) : [], dhcp: cfg.dhcp };
  const backend: FirewallBackend = cfg.dryRun ? new MemoryBackend({ failsafe, onScript: (what, script) => process.stdout.write(`# fleetwall agent --dry-run: ${what}\n${script}\n`) }) : new NftBackend(nft, failsafe);
  const defender = new Defender(new BanSync(backend, log), cfg.hostId, cfg.labels, () => agent?.trustedKey(), log);
  const jails = withJails ? new JailRunner(store, log, (ban, jail) => agent?.onJailBan(ban, jail)) : undefined;
  agent = new Agent(
    {
      hostId: cfg.hostId,
      registration: { labels: cfg.labels, addresses: localAddresses(), agentVersion: FLEETWALL_VERSION, nftVersion: nftVer },
      controllerKey: cfg.controllerKey ? readPem(cfg.controllerKey) : undefined,
      heartbeatMs: cfg.heartbeat,
      driftIntervalMs: cfg.driftInterval,
      confirmWindowMs: cfg.confirmWindow,
      now: () => new Date(),
    },
    backend,
    store,
    log,
    defender,
    jails,
  );
  return { agent, nft, backend, defender, jails };
}

/** `--boot`: restore the last applied ruleset from disk, without the bus, and return. */
export async function bootAgent(cfg: AgentConfig, log: Logger): Promise<boolean> {
  // no jails at boot: this process restores the rules and exits; the service then starts the agent
  const { agent, nft } = buildAgent(cfg, log, cfg.dryRun ? "dry-run" : await nftVersion(nftBinary({ binary: cfg.nft })), false);
  try {
    return await agent.restore();
  } finally {
    nft.close?.();
  }
}

export async function runAgent(cfg: AgentConfig, log: Logger, signal: AbortSignal): Promise<void> {
  const { agent, nft, defender, jails } = buildAgent(cfg, log, cfg.dryRun ? "dry-run" : await nftVersion(nftBinary({ binary: cfg.nft })), !cfg.dryRun);
  await agent.restore();
  let link: AgentLink | undefined;
  const registry = newRegistry();
  counterOf(registry, "fleetwall_agent_applies_total", "Rulesets applied and confirmed.", () => agent.applies);
  agent.onApplyMs = latencyOf(registry, "fleetwall_agent_apply_seconds", "Time of one nft transaction replacing the policy table.", [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]);
  counterOf(registry, "fleetwall_agent_apply_failures_total", "Rulesets nft refused or read back wrong.", () => agent.applyFailures);
  counterOf(registry, "fleetwall_agent_rollbacks_total", "Rulesets rolled back by commit-confirm.", () => agent.rollbacks);
  counterOf(registry, "fleetwall_agent_drift_repairs_total", "Foreign changes to the table repaired.", () => agent.driftRepairs);
  counterOf(registry, "fleetwall_agent_messages_dropped_total", "Desired states and decisions dropped as malformed, unsigned or forged.", () => agent.droppedMessages + defender.droppedDecisions + (link?.bogusLive ?? 0));
  counterOf(registry, "fleetwall_agent_signals_sent_total", "Jail detections delivered to the signals stream.", () => defender.signalsSent);
  counterOf(registry, "fleetwall_agent_ban_element_errors_total", "Ban set elements nft refused.", () => defender.bans.errors);
  counterOf(registry, "fleetwall_agent_nft_session_fallbacks_total", "Ban batches run through nft -f because the long-lived nft could not take them.", () => nft.fallbacks ?? 0);
  counterOf(registry, "fleetwall_agent_log_lines_total", "Log lines read by jails.", () => jails?.linesRead ?? 0);
  counterOf(registry, "fleetwall_agent_log_matches_total", "Log lines a jail filter matched.", () => jails?.linesMatched ?? 0);
  gaugeOf(registry, "fleetwall_agent_applied_revision", "Desired-state revision in force.", () => agent.appliedRevision);
  gaugeOf(registry, "fleetwall_agent_bans_active", "Bans in the kernel's sets.", () => defender.bans.activeBans);
  gaugeOf(registry, "fleetwall_agent_signals_queued", "Detections waiting for the bus.", () => defender.queuedSignals);
  const http = await serveObservability(cfg.listen, registry, () => agent.appliedRevision > 0 && !!link && !link.nc.isClosed());
  link = await AgentLink.connect({ connection: connectOptions(cfg, `fleetwall-agent-${cfg.hostId}`, agentInboxPrefix(cfg.hostId)), hostId: cfg.hostId, log });
  log.info({ host: cfg.hostId, machine: hostname() }, "agent connected");
  try {
    await agent.run(cfg.dryRun ? dryRunBus(link) : link, signal);
  } finally {
    await agent.shutdown();
    await link.close();
    http.close();
    nft.close?.();
  }
}

/** The bus as a dry run sees it: it follows desired state and bans, and registers, reports and signals nothing. */
function dryRunBus(link: AgentLink): AgentBus {
  return {
    register: async () => undefined,
    watchDesired: (onValue, signal) => link.watchDesired(onValue, signal),
    watchBans: (onEntry, signal, onSynced) => link.watchBans(onEntry, signal, onSynced),
    publishReport: () => undefined,
    publishSignal: async () => undefined,
    roundTrip: (ms) => link.roundTrip(ms),
  };
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
