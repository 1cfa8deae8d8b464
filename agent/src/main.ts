import { hostname, networkInterfaces } from "node:os";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { FLEETWALL_VERSION, agentInboxPrefix } from "@fleetwall/api";
import { connectOptions, knownServers, logNatsStatus, ownAddresses, natsEndpoints, newRegistry, rootLogger, runProcess, serveObservability, serveProbes, untilAborted, warnIfOpenBus, type Supervisor } from "@fleetwall/runtime";
import type { Logger } from "pino";
import { Agent, type AgentBus } from "./agent.js";
import type { FirewallBackend } from "./backend.js";
import { MemoryBackend } from "./memory-backend.js";
import { BanSync } from "./bans.js";
import { splitSources, type AgentConfig } from "./config.js";
import { Defender } from "./defender.js";
import { NftBackend } from "./enforcer.js";
import { JailRunner } from "./jails.js";
import { AgentLink } from "./link.js";
import { agentMetrics } from "./metrics.js";
import { listTable, nftBinary, nftVersion, type NftRunner } from "./nft.js";
import { BANS_TABLE } from "./bans-render.js";
import { FAMILY, TABLE } from "./render.js";
import { SelfProtection } from "./self-protect.js";
import { FleetShield } from "./fleet-shield.js";
import { AGENT_STATE_FILES, StateStore } from "./state-store.js";

/**
 * The agent process: its logger, signals and exit code (runtime's runProcess), and the supervisor
 * that starts and stops its parts. Returns the exit code.
 */
export async function agentMain(cfg: Readonly<AgentConfig>): Promise<number> {
  const log = rootLogger(cfg.logLevel);
  return runProcess({ name: "agent", log }, (s) => startAgent(cfg, log, s));
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

function buildAgent(cfg: Readonly<AgentConfig>, log: Logger, nft: NftRunner, nftVer: string, withJails: boolean): Built {
  // a dry run keeps its state apart: what it "applied" must not be restored at the next boot
  const store = new StateStore(cfg.dryRun ? mkdtempSync(join(tmpdir(), "fleetwall-dry-run-")) : cfg.stateDir);
  // the agent is made below; the defender and jails reach it through this late-bound reference
  let agent: Agent | undefined;
  const failsafe = { sshPorts: cfg.sshPort, sshSources: splitSources(cfg.sshSource), nats: cfg.natsFailsafe ? natsEndpoints(cfg.nats) : [], dhcp: cfg.dhcp };
  const backend: FirewallBackend = cfg.dryRun ? new MemoryBackend({ failsafe, onScript: (what, script) => process.stdout.write(`# fleetwall agent --dry-run: ${what}\n${script}\n`) }) : new NftBackend(nft, failsafe);
  const defender = new Defender(new BanSync(backend, log), cfg.hostId, cfg.labels, () => agent?.trustedKey(), log);
  const jails = withJails ? new JailRunner(store, log, (ban, jail) => agent?.onJailBan(ban, jail)) : undefined;
  agent = new Agent(
    {
      hostId: cfg.hostId,
      registration: { labels: cfg.labels, addresses: localAddresses(), managementSources: [...cfg.sshSource], agentVersion: FLEETWALL_VERSION, nftVersion: nftVer },
      controllerKey: cfg.controllerKey ? readFileSync(cfg.controllerKey, "utf8") : undefined,
      // an unauthenticated bus may not hand over the key unless told so (see startAgent)
      mayPinFirstKey: cfg.trustFirstKey,
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
  return { agent, nft, defender, jails };
}

/** `--boot`: restore the last applied ruleset from disk, without the bus, and return. */
export async function bootAgent(cfg: Readonly<AgentConfig>, log: Logger): Promise<boolean> {
  // no jails at boot: this process restores the rules and exits; the service then starts the agent
  const nft = nftBinary({ binary: cfg.nft });
  const { agent } = buildAgent(cfg, log, nft, cfg.dryRun ? "dry-run" : await nftVersion(nft), false);
  try {
    return await agent.restore();
  } finally {
    nft.close?.();
  }
}

/**
 * Starts the agent's parts under `s`: the last applied ruleset first (the host is protected before
 * the bus is reachable), then /metrics, then the bus, then the agent's loop. Each part's cleanup is
 * registered as it is made; rules and bans stay in the kernel when the agent stops (fail static).
 */
export async function startAgent(cfg: Readonly<AgentConfig>, log: Logger, s: Supervisor): Promise<void> {
  const nft = nftBinary({ binary: cfg.nft });
  s.defer("nft", () => nft.close?.());
  const { agent, defender, jails } = buildAgent(cfg, log, nft, cfg.dryRun ? "dry-run" : await nftVersion(nft), !cfg.dryRun);
  s.defer("jails and signals", () => agent.shutdown());
  // not abandoned on a stop: an nft transaction is atomic, and this one is short
  await agent.restore();
  protectManagement(defender, cfg.sshSource);
  // the fleet's protection list as last taken, until the bus gives a newer one
  const shield = new FleetShield(defender.bans, new StateStore(cfg.dryRun ? mkdtempSync(join(tmpdir(), "fleetwall-dry-run-")) : cfg.stateDir), () => agent.trustedKey(), log);
  await shield.restore();
  let link: AgentLink | undefined;
  // before the bus: a log line naming the NATS server must not ban it while the agent connects
  const self = new SelfProtection(defender.bans, log);
  self.add(ownAddresses());
  s.run("self-protection", (signal) => self.run(() => knownServers(cfg.nats, link?.nc), signal));
  const registry = newRegistry();
  agentMetrics(registry, { agent, nft, defender, jails, link: () => link, shield });
  const ready = () => agent.appliedRevision > 0 && !!link && !link.nc.isClosed();
  await s.resource(`--listen ${cfg.listen}`, () => serveObservability(cfg.listen, registry, ready), (server) => void server.close());
  const probes = cfg.probeListen;
  if (probes) await s.resource(`--probe-listen ${probes}`, () => serveProbes(probes, ready), (server) => void server.close());
  const connection = connectOptions(cfg, `fleetwall-agent-${cfg.hostId}`, agentInboxPrefix(cfg.hostId));
  link = await s.resource("nats", (signal) => AgentLink.connect({ connection, hostId: cfg.hostId, log }, signal), (l) => l.close());
  log.info({ host: cfg.hostId, machine: hostname() }, "agent connected");
  if (warnIfOpenBus(link.nc, cfg, log)) agent.allowPinning();
  else if (!cfg.controllerKey && !cfg.trustFirstKey) log.warn("no --controller-key and the bus has no authentication: no controller key will be pinned from it (give --controller-key, secure the bus, or pass --trust-first-key)");
  const connected = link;
  s.run("nats status", (signal) => logNatsStatus(connected.nc, log, signal));
  s.run("agent", (signal) => agent.run(cfg.dryRun ? dryRunBus(connected) : connected, signal));
  s.run("fleet protection", (signal) => followProtection(agent, shield, connected, signal));
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

/** Takes the fleet's protection lists once a controller key is trusted (they are verified with it), until aborted. */
async function followProtection(agent: Agent, shield: FleetShield, link: AgentLink, signal: AbortSignal): Promise<void> {
  if (!(await untilAborted(agent.whenTrusted(), signal).then(() => true, () => false))) return;
  await link.watchProtection((data, stored) => shield.onValue(data, stored), signal);
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

/**
 * The management sources go into the bans table's allowlist, which is checked before its bans: no
 * ban, fleet-wide or local, ever cuts them on this host.
 */
function protectManagement(defender: Defender, sources: readonly string[]): void {
  for (const text of sources) void defender.bans.protect(text);
}
