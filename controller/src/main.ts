import { parseCidr, type HostRegistration } from "@fleetwall/api";
import { connectOptions, counterOf, natsEndpoints, newRegistry, rootLogger, serveObservability } from "@fleetwall/runtime";
import type { Logger } from "pino";
import { BanKeeper } from "./ban-keeper.js";
import { ControllerBus } from "./bus.js";
import type { ControllerConfig } from "./config.js";
import { Controller } from "./controller.js";
import { DirSource } from "./dir-source.js";
import type { KubeConfig } from "./kube.js";
import { KubeStatusWriter } from "./kube-status-writer.js";
import { LastGoodStore } from "./last-good.js";
import type { PolicySet } from "./manifests.js";
import { controllerMetrics, kubeMetrics } from "./metrics.js";
import { loadOrCreateKey } from "./signing-key.js";
import { WorkQueue } from "./work-queue.js";

export { writeSigningKey } from "./signing-key.js";

/** The controller process: signals, the root logger, the exit code. Returns the code to exit with. */
export async function controllerMain(cfg: Readonly<ControllerConfig>): Promise<void> {
  const ac = new AbortController();
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => ac.abort());
  await runController(cfg, rootLogger(cfg.logLevel), ac.signal);
}

/**
 * Runs the controller. With the Kubernetes source, replicas elect a leader with a Lease first: a
 * standby answers /healthz and /readyz and does nothing else; a leader that loses its lease stops
 * with LeadershipLostError (the process exits and is restarted, as client-go's controllers do).
 */
export async function runController(cfg: Readonly<ControllerConfig>, log: Logger, signal: AbortSignal): Promise<void> {
  if (cfg.source.kind !== "kube") return runLeader(cfg, log, signal, undefined);
  const { LeaderElector, loadKubeConfig } = await import("./kube.js");
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

async function runLeader(cfg: Readonly<ControllerConfig>, log: Logger, signal: AbortSignal, kc: KubeConfig | undefined): Promise<void> {
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
  const protect = [...cfg.protect, ...natsEndpoints(cfg.nats).flatMap((n) => (n.address ? [n.address] : []))].map(parseCidr);
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
    const { KubeSource } = await import("./kube.js");
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
    kubeMetrics(registry, { reconciles: () => kube.queue.processed, informerRestarts: () => kube.informerRestarts, relists: () => kube.relists, statusWrites: () => writer.writes, statusWriteFailures: () => writer.failures });
    sourceReady = () => kube.synced;
    stopSource = async () => {
      clearInterval(statusTimer);
      hosts.stop();
      await kube.stop();
    };
  }
  controllerMetrics(registry, controller, bans, invalid);
  counterOf(registry, "fleetwall_controller_last_good_failures_total", "Last good versions the bus did not store (or remove).", () => lastGood.failures);
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
