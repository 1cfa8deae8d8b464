import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { generateSigningKeyPem, loadSigningKey, parseCidr, type SigningKey } from "@fleetwall/api";
import { BanKeeper, Controller, ControllerBus, DirSource } from "@fleetwall/controller";
import { natsFailsafe } from "./nats-url.js";
import { connectOptions } from "./nats-access.js";
import { counterOf, gaugeOf, newRegistry, serveObservability } from "./observe.js";
import type { Logger } from "pino";
import type { ControllerConfig } from "./config.js";

/** Loads the Ed25519 signing key, creating it (and `<file>.pub`) on first start. */
export async function loadOrCreateKey(path: string, log: Logger): Promise<SigningKey> {
  if (!existsSync(path)) {
    const { privatePem, publicPem } = generateSigningKeyPem();
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, privatePem, { mode: 0o600, flag: "wx" });
    await writeFile(`${path}.pub`, publicPem, { mode: 0o644 });
    log.warn({ path }, "signing key created; give agents its .pub file with --controller-key");
  }
  return loadSigningKey(await readFile(path, "utf8"));
}

export async function runController(cfg: ControllerConfig, log: Logger, signal: AbortSignal): Promise<void> {
  const key = await loadOrCreateKey(cfg.signingKey, log);
  const invalid: Record<string, number> = {};
  const bus = await ControllerBus.connect({
    connection: connectOptions(cfg, "fleetwall-controller"),
    replicas: cfg.replicas,
    log,
    onInvalid: (kind, reason) => {
      invalid[kind] = (invalid[kind] ?? 0) + 1;
      log.warn({ kind, reason }, "invalid message dropped");
    },
  });
  const published = await bus.loadPublished();
  const protect = [...cfg.protect, ...natsFailsafe(cfg.nats).flatMap((n) => (n.address ? [n.address] : []))].map(parseCidr);
  const bans = new BanKeeper(bus, key, { minReporters: cfg.minReporters, reportWindowSeconds: 3600, maxBanSeconds: cfg.maxBan, minPrefix: { ip: cfg.minPrefix4, ip6: cfg.minPrefix6 }, protect }, log);
  const controller = new Controller(bus, key, log, published, bans);
  bus.subscribeReports((r) => controller.recordReport(r));
  bus.serveStatus(() => controller.status());
  bus.serveBans((r) => bans.add(r), (cidr) => bans.delete(cidr), (r) => bans.import(r));
  const janitor = setInterval(() => void bans.forgetExpired().catch((e: unknown) => log.warn({ err: e }, "expired bans not removed")), 30_000);
  const source = new DirSource({
    dir: cfg.source.path,
    rescanMs: cfg.rescan,
    debounceMs: 50,
    onChange: (set) => {
      log.info({ policies: set.policies.length, banLists: set.banLists.length, invalid: set.errors.length }, "resources loaded");
      controller.setPolicies(set);
    },
    onError: (error) => log.error({ err: error }, "policy directory unreadable"),
  });
  await source.start();
  const registry = newRegistry();
  counterOf(registry, "fleetwall_controller_reconciles_total", "Reconcile passes.", () => controller.reconciles);
  counterOf(registry, "fleetwall_controller_desired_published_total", "Desired states published (one per host and revision).", () => controller.published);
  counterOf(registry, "fleetwall_controller_ban_decisions_total", "Ban decisions written to the bans bucket.", () => bans.decisions);
  counterOf(registry, "fleetwall_controller_signals_skipped_total", "Jail signals the arbiter did not turn into a ban.", () => bans.skippedSignals);
  gaugeOf(registry, "fleetwall_controller_invalid_messages", "Messages dropped as malformed, by kind.", () => invalid, "kind");
  gaugeOf(registry, "fleetwall_controller_hosts", "Hosts by state.", () => {
    const s = controller.status();
    return { in_sync: s.hosts.filter((h) => h.inSync).length, out_of_sync: s.hosts.filter((h) => !h.inSync && !h.error).length, failed: s.hosts.filter((h) => h.error).length };
  }, "state");
  gaugeOf(registry, "fleetwall_controller_bans", "Decisions in the bans bucket.", () => bans.decisionsByKey.size);
  const http = await serveObservability(cfg.listen, registry, () => controller.ready && !bus.nc.isClosed());
  const hosts = bus.watchHosts((id, reg) => controller.setHost(id, reg), signal);
  const banWatch = bus.watchBans((k, d, seal) => bans.onEntry(k, d, seal), (id, present) => bans.onSeal(id, present), signal, () => controller.bansLoaded());
  const signals = bus.consumeSignals((s) => bans.onSignal(s), signal);
  log.info({ keyId: key.keyId, source: cfg.source.path }, "controller started");
  try {
    await Promise.all([controller.run(signal), hosts, banWatch, signals]);
  } finally {
    clearInterval(janitor);
    http.close();
    source.stop();
    await bus.close();
  }
}
