import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { generateSigningKeyPem, loadSigningKey, parseCidr, type HostRegistration, type SigningKey } from "@fleetwall/api";
import { BanKeeper, Controller, ControllerBus, DirSource, KubeStatusWriter, LastGoodStore, WorkQueue, type PolicySet } from "@fleetwall/controller";
import type { KubeConfig } from "@fleetwall/controller/kube";
import { natsFailsafe } from "./nats-url.js";
import { connectOptions } from "./nats-access.js";
import { counterOf, gaugeOf, latencyOf, newRegistry, serveObservability } from "./observe.js";
import type { Logger } from "pino";
import type { ControllerConfig } from "./config.js";

/** Writes a new signing key pair into `dir` (for a Kubernetes Secret); never overwrites a private key. */
export async function writeSigningKey(dir: string): Promise<string[]> {
  const { privatePem, publicPem } = generateSigningKeyPem();
  await mkdir(dir, { recursive: true });
  const path = join(dir, "signing-key.pem");
  await writeFile(path, privatePem, { mode: 0o600, flag: "wx" });
  await writeFile(`${path}.pub`, publicPem, { mode: 0o644 });
  return [path, `${path}.pub`];
}

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

/**
 * Runs the controller. With the Kubernetes source, replicas elect a leader with a Lease first: a
 * standby answers /healthz and /readyz and does nothing else; a leader that loses its lease stops
 * with LeadershipLostError (the process exits and is restarted, as client-go's controllers do).
 */
export async function runController(cfg: ControllerConfig, log: Logger, signal: AbortSignal): Promise<void> {
  if (cfg.source.kind !== "kube") return runLeader(cfg, log, signal, undefined);
  const { LeaderElector, loadKubeConfig } = await import("@fleetwall/controller/kube");
  const kc = loadKubeConfig(cfg.kubeconfig);
  const elector = new LeaderElector(kc, { namespace: cfg.leaseNamespace, name: cfg.leaseName, identity: cfg.identity, durationMs: cfg.leaseDuration, retryMs: cfg.leaseRetry, log });
  const standby = await serveObservability(cfg.listen, newRegistry(), () => true);
  log.info({ lease: `${cfg.leaseNamespace}/${cfg.leaseName}`, identity: cfg.identity }, "waiting to become leader");
  try {
    await elector.acquire(signal);
  } finally {
    standby.close();
  }
  const leading = new AbortController();
  const stop = () => leading.abort();
  signal.addEventListener("abort", stop, { once: true });
  const held = elector.hold(leading.signal).catch((error: unknown) => {
    leading.abort();
    throw error;
  });
  try {
    await Promise.all([runLeader(cfg, log, leading.signal, kc), held]);
  } finally {
    signal.removeEventListener("abort", stop);
  }
}

async function runLeader(cfg: ControllerConfig, log: Logger, signal: AbortSignal, kc: KubeConfig | undefined): Promise<void> {
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
  // the versions in force when the last controller stopped: invalid edits made since do not change enforcement
  const lastGood = await LastGoodStore.open(bus.nc, cfg.replicas, key, log);
  const initial = await lastGood.load();
  const accept = (set: PolicySet) => {
    log.info({ policies: set.policies.length, banLists: set.banLists.length, invalid: set.errors.length }, "resources loaded");
    controller.setPolicies(set);
    void lastGood.record([...set.policies, ...set.banLists]);
  };
  const protect = [...cfg.protect, ...natsFailsafe(cfg.nats).flatMap((n) => (n.address ? [n.address] : []))].map(parseCidr);
  const bans = new BanKeeper(bus, key, { minReporters: cfg.minReporters, reportWindowSeconds: 3600, maxBanSeconds: cfg.maxBan, minPrefix: { ip: cfg.minPrefix4, ip6: cfg.minPrefix6 }, protect }, log);
  const controller = new Controller(bus, key, log, published, bans);
  bus.subscribeReports((r) => controller.recordReport(r));
  bus.serveStatus(() => controller.status());
  bus.serveBans((r) => bans.add(r), (cidr) => bans.delete(cidr), (r) => bans.import(r));
  const janitor = setInterval(() => void bans.forgetExpired().catch((e: unknown) => log.warn({ err: e }, "expired bans not removed")), 30_000);
  const registrations = new Map<string, HostRegistration>();
  let stopSource: () => Promise<void> | void;
  let sourceReady = () => true;
  let onRegistration = (_id: string) => {};
  const registry = newRegistry();
  if (cfg.source.kind === "dir") {
    const source = new DirSource({
      dir: cfg.source.path,
      rescanMs: cfg.rescan,
      debounceMs: 50,
      initial,
      onChange: accept,
      onError: (error) => log.error({ err: error }, "policy directory unreadable"),
    });
    await source.start();
    stopSource = () => source.stop();
  } else {
    const { KubeSource } = await import("@fleetwall/controller/kube");
    const kube = new KubeSource({
      kubeconfig: kc as KubeConfig,
      relistMs: cfg.relist,
      log,
      initial,
      onPolicies: accept,
      onHostLabels: (id, labels) => controller.setHostLabels(id, labels),
    });
    await kube.start();
    // FirewallHosts for registered agents, one host at a time, retried with backoff
    const hosts = new WorkQueue(
      async (id) => {
        const reg = registrations.get(id);
        if (reg) await kube.ensureHost(reg);
      },
      (id, error, retryInMs) => log.warn({ host: id, err: error, retryInMs }, "FirewallHost not written; retrying"),
    );
    onRegistration = (id) => hosts.add(id);
    const writer = new KubeStatusWriter(kube, controller, { minIntervalMs: Math.max(2 * cfg.statusInterval, 1000), budget: 50, log });
    let writing = false;
    const statusTimer = setInterval(() => {
      if (writing || !controller.ready) return;
      writing = true;
      writer.tick().finally(() => (writing = false));
    }, cfg.statusInterval);
    counterOf(registry, "fleetwall_controller_kube_reconciles_total", "Keys reconciled from the informer caches.", () => kube.queue.processed);
    counterOf(registry, "fleetwall_controller_kube_informer_restarts_total", "Informers restarted after an error.", () => kube.informerRestarts);
    counterOf(registry, "fleetwall_controller_kube_relists_total", "Informers replaced by a fresh list.", () => kube.relists);
    counterOf(registry, "fleetwall_controller_status_writes_total", "Status subresource writes.", () => writer.writes);
    counterOf(registry, "fleetwall_controller_status_write_failures_total", "Status writes the API server refused.", () => writer.failures);
    sourceReady = () => kube.synced;
    stopSource = async () => {
      clearInterval(statusTimer);
      hosts.stop();
      await kube.stop();
    };
  }
  counterOf(registry, "fleetwall_controller_reconciles_total", "Reconcile passes.", () => controller.reconciles);
  controller.onReconcileMs = latencyOf(registry, "fleetwall_controller_reconcile_seconds", "Time of one reconcile pass (compile every host, publish what changed).", [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
  gaugeOf(registry, "fleetwall_controller_revision_lag", "Hosts whose applied revision is behind the desired one, and by how many revisions in all.", () => {
    const hosts = controller.status().hosts.filter((h) => h.appliedRevision < h.desiredRevision);
    return { hosts: hosts.length, revisions: hosts.reduce((n, h) => n + h.desiredRevision - h.appliedRevision, 0) };
  }, "measure");
  counterOf(registry, "fleetwall_controller_desired_published_total", "Desired states published (one per host and revision).", () => controller.published);
  counterOf(registry, "fleetwall_controller_ban_decisions_total", "Ban decisions written to the bans bucket.", () => bans.decisions);
  counterOf(registry, "fleetwall_controller_signals_skipped_total", "Jail signals the arbiter did not turn into a ban.", () => bans.skippedSignals);
  gaugeOf(registry, "fleetwall_controller_invalid_messages", "Messages dropped as malformed, by kind.", () => invalid, "kind");
  gaugeOf(registry, "fleetwall_controller_hosts", "Hosts by state.", () => {
    const s = controller.status();
    return { in_sync: s.hosts.filter((h) => h.inSync).length, out_of_sync: s.hosts.filter((h) => !h.inSync && !h.error).length, failed: s.hosts.filter((h) => h.error).length };
  }, "state");
  counterOf(registry, "fleetwall_controller_last_good_failures_total", "Last good versions the bus did not store (or remove).", () => lastGood.failures);
  gaugeOf(registry, "fleetwall_controller_bans", "Decisions in the bans bucket.", () => bans.decisionsByKey.size);
  const http = await serveObservability(cfg.listen, registry, () => controller.ready && sourceReady() && !bus.nc.isClosed());
  const hosts = bus.watchHosts((id, reg) => {
    if (reg) registrations.set(id, reg);
    else registrations.delete(id);
    controller.setHost(id, reg);
    if (reg) onRegistration(id);
  }, signal);
  const banWatch = bus.watchBans((k, d, seal) => bans.onEntry(k, d, seal), (id, present) => bans.onSeal(id, present), signal, () => controller.bansLoaded());
  const signals = bus.consumeSignals((s) => bans.onSignal(s), signal);
  log.info({ keyId: key.keyId, source: cfg.source.kind === "dir" ? cfg.source.path : "kube" }, "controller started");
  try {
    await Promise.all([controller.run(signal), hosts, banWatch, signals]);
  } finally {
    clearInterval(janitor);
    http.close();
    await stopSource();
    await bus.close();
  }
}
