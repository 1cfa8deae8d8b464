import { readdir } from "node:fs/promises";
import type { HostRegistration, Resource, SigningKey } from "@fleetwall/api";
import { connectNats, connectOptions, counterOf, every, gaugeOf, logNatsStatus, newRegistry, rootLogger, runProcess, serveObservability, serveProbes, untilAborted, type Supervisor } from "@fleetwall/runtime";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { BanKeeper } from "./ban-keeper.js";
import { BanSide, arbiterConfig } from "./ban-side.js";
import { ProtectionPublisher } from "./protection-publisher.js";
import { StreamSettings } from "./stream-settings.js";
import { ControllerBus } from "./bus.js";
import type { ControllerConfig } from "./config.js";
import { Controller } from "./controller.js";
import { DirSource } from "./dir-source.js";
import type { KubeConfig, KubeSource } from "./kube.js";
import { KubeStatusWriter } from "./kube-status-writer.js";
import { LastGoodStore } from "./last-good.js";
import type { PolicySet } from "./manifests.js";
import { controllerMetrics, kubeMetrics } from "./metrics.js";
import { loadOrCreateKey } from "./signing-key.js";
import { InvalidMessages } from "./invalid-messages.js";
import { sendLift, serveHosts } from "./bus-hosts.js";
import { deleteEverywhere, forgetHost } from "./host-admin.js";
import { LocalBanLifter } from "./local-lift.js";
import { firewallHostDeleted, refuseHostsDelete } from "./kube-hosts.js";
import { WorkQueue } from "./work-queue.js";
import { HOST_AUDIT_MS } from "./host-audit.js";
import { UnregisteredReports } from "./unregistered-reports.js";

export { writeSigningKey } from "./signing-key.js";

type Config = Readonly<ControllerConfig>;

/**
 * The controller process: its logger, signals and exit code (runtime's runProcess), and the
 * supervisor that starts and stops its parts. Returns the exit code.
 */
export async function controllerMain(cfg: Config): Promise<number> {
  const log = rootLogger(cfg.logLevel);
  return runProcess({ name: "controller", log }, (s) => startController(cfg, log, s));
}

/** What /readyz answers; replaced as the process moves from standby to leader. */
interface Probe {
  ready: () => boolean;
}

/**
 * Starts the controller's parts under `s`. With the Kubernetes source, replicas elect a leader with
 * a Lease first: a standby answers /healthz and /readyz and does nothing else. Leading is a runnable:
 * when it fails (the lease lost) the process stops; when the leader's work fails, or the process
 * stops cleanly, the supervisor aborts it and it releases the Lease, so a standby leads at once.
 */
export async function startController(cfg: Config, log: Logger, s: Supervisor): Promise<void> {
  const registry = newRegistry();
  // a standby is ready: it does its job, which is to wait
  const probe: Probe = { ready: () => cfg.source.kind === "kube" };
  await s.resource(`--listen ${cfg.listen}`, () => serveObservability(cfg.listen, registry, () => probe.ready()), (server) => void server.close());
  const probes = cfg.probeListen;
  if (probes) await s.resource(`--probe-listen ${probes}`, () => serveProbes(probes, () => probe.ready()), (server) => void server.close());
  let kc: KubeConfig | undefined;
  if (cfg.source.kind === "kube") {
    const { LeaderElector, loadKubeConfig } = await import("./kube.js");
    kc = loadKubeConfig(cfg.kubeconfig);
    const elector = new LeaderElector(kc, { namespace: cfg.leaseNamespace, name: cfg.leaseName, identity: cfg.identity, durationMs: cfg.leaseDuration, retryMs: cfg.leaseRetry, log });
    log.info({ lease: `${cfg.leaseNamespace}/${cfg.leaseName}`, identity: cfg.identity }, "waiting to become leader");
    if (!(await untilAborted(elector.acquire(s.signal), s.signal))) return;
    // renews until the process stops (or any part fails), then gives the Lease up to the standby
    s.run("leader election", (signal) => elector.hold(signal));
  }
  await startLeader(cfg, log, s, { registry, probe, kc });
}

interface Shared {
  registry: Registry;
  probe: Probe;
  kc: KubeConfig | undefined;
}

/**
 * The leader's work: checks what the operator can get wrong, connects, loads what is in force, then
 * serves requests, follows the buckets and runs the reconcilers until the process stops.
 */
async function startLeader(cfg: Config, log: Logger, s: Supervisor, { registry, probe, kc }: Shared): Promise<void> {
  // what the operator can get wrong is found before the wait for NATS, which may be long
  if (cfg.source.kind === "dir") await s.step(`policy directory ${cfg.source.path}`, () => readdir(cfg.source.path));
  const key = await s.step(`signing key ${cfg.signingKey}`, () => loadOrCreateKey(cfg.signingKey, log));
  const invalid = new InvalidMessages(log);
  s.defer("invalid-message log", invalid.start());
  const streamSettings = new StreamSettings();
  gaugeOf(registry, "fleetwall_controller_stream_settings_not_applied", "Stream settings the NATS server would not change on an existing stream (`<stream> <setting>`; the log says how to fix each).", () => streamSettings.unapplied, "setting");
  const busOptions = { connection: connectOptions(cfg, "fleetwall-controller"), replicas: cfg.replicas, streamSettings, log, onInvalid: invalid.drop };
  const nc = await s.resource("nats", (signal) => connectNats(busOptions.connection, signal, log), (c) => c.close());
  s.run("nats status", (signal) => logNatsStatus(nc, log, signal));
  const bus = await s.resource("bus", (signal) => ControllerBus.open(nc, busOptions, signal), (b) => b.close());
  const published = await untilAborted(bus.loadPublished(), s.signal);
  // the versions in force when the last controller stopped: invalid edits made since do not change enforcement
  const lastGood = await untilAborted(LastGoodStore.open(nc, cfg.replicas, key, log, streamSettings), s.signal);
  const initial = await untilAborted(lastGood.load(), s.signal);
  const accept = (set: PolicySet) => {
    log.info({ policies: set.policies.length, banLists: set.banLists.length, invalid: set.errors.length }, "resources loaded");
    controller.setPolicies(set);
    void lastGood.record([...set.policies, ...set.banLists]);
  };
  const bans = new BanKeeper(bus, key, arbiterConfig(cfg), log);
  const controller = new Controller(bus, key, log, published, bans);
  const banSide = new BanSide(bus, bans, controller, cfg, log);
  // every agent reads the fleet's protection list: other hosts' addresses are never banned there either
  banSide.protections = new ProtectionPublisher(nc, key, () => bans.protection.fleetEntries(), { replicas: cfg.replicas, log, settings: streamSettings });
  bans.onProtectionChange = () => banSide.protections?.kick();
  await s.resource("consumer guard", () => banSide.start(), () => banSide.stop());
  const parts: LeaderParts = { bus, bans, controller, banSide, registrations: new Map(), hostsLoaded: false };
  serveRequests(parts, key, kc, log);
  s.run("ban janitor", (signal) => every(30_000, signal, async () => void (await bans.forgetExpired()), (err) => log.warn({ err }, "expired bans not removed")));
  const source = kc
    ? await startKube(cfg, log, s, { registry, controller, registrations: parts.registrations, kc, initial, accept, forget: (id) => forgetHost(id, true, bus, controller) })
    : await startDir(cfg, s, { initial, accept, log });
  // on Kubernetes a host that is a Node owns exactly the Node's addresses; no signal is judged before the Nodes are listed (or could not be)
  if (kc) await followNodes(s, kc, log, bans, banSide, registry);
  else banSide.nodesSettled();
  controllerMetrics(registry, controller, bans, invalid.counts);
  counterOf(registry, "fleetwall_controller_last_good_failures_total", "Last good versions the bus did not store (or remove).", () => lastGood.failures);
  counterOf(registry, "fleetwall_controller_host_registrations_restored_total", "Host registrations put back into the hosts bucket: gone without an operator's delete, or overwritten by a value that is no registration.", () => bus.hostAudit.restored + bus.hostsRestored);
  banSide.metrics(registry);
  probe.ready = () => controller.ready && source.ready() && !nc.isClosed();
  followBuckets(s, parts, source, log);
  // signals, BanList sync and the janitor, once registrations and protections are loaded
  s.run("ban side", (signal) => banSide.run(signal));
  s.run("reconciler", (signal) => controller.run(signal));
  log.info({ keyId: key.keyId, source: cfg.source.kind === "dir" ? cfg.source.path : "kube" }, "controller started");
}

/** What the leader is made of once connected. */
interface LeaderParts {
  bus: ControllerBus;
  bans: BanKeeper;
  controller: Controller;
  banSide: BanSide;
  /** The registrations of the hosts bucket, as the hosts watch follows it. */
  registrations: Map<string, HostRegistration>;
  /** The hosts watch has read the whole bucket once. */
  hostsLoaded: boolean;
}

/** What the leader answers on NATS: agents' reports, `status`, the ban and host commands. */
function serveRequests(parts: LeaderParts, key: SigningKey, kc: KubeConfig | undefined, log: Logger): void {
  const { bus, bans, controller } = parts;
  // before the hosts bucket is read, no host is known to be unregistered
  const unregistered = new UnregisteredReports(log, (id) => !parts.hostsLoaded || parts.registrations.has(id));
  bus.subscribeReports((r) => {
    unregistered.check(r.hostId);
    controller.recordReport(r);
  });
  bus.serveStatus(() => controller.status());
  const lifter = new LocalBanLifter((host, text) => sendLift(bus.nc, host, text), key, () => controller.reports);
  bus.serveBans({ add: (r) => bans.add(r), del: (cidr) => deleteEverywhere(cidr, bans, lifter), imp: (r) => bans.import(r) });
  serveHosts(bus.nc, { bans: () => ({ hosts: controller.hostBans() }), remove: (id, force) => (kc ? refuseHostsDelete(id) : forgetHost(id, force, bus, controller)) });
}

/** The buckets the leader follows until the process stops: hosts, bans, and desired (for another writer's puts). */
function followBuckets(s: Supervisor, parts: LeaderParts, source: Source, log: Logger): void {
  const { bus, bans, controller, banSide, registrations } = parts;
  const loaded = () => {
    parts.hostsLoaded = true;
    banSide.hostsLoaded();
  };
  s.run("host registrations", (signal) =>
    bus.watchHosts((id, reg) => {
      if (reg) registrations.set(id, reg);
      else registrations.delete(id);
      controller.setHost(id, reg);
      if (reg) source.onRegistration(id);
    }, signal, loaded, (id) => registrations.get(id)),
  );
  // a registration gone from the bucket without an operator's delete is put back (host-audit.ts)
  s.run("host audit", (signal) => every(HOST_AUDIT_MS, signal, async () => void (await bus.hostAudit.pass(registrations)), (err) => log.warn({ err }, "hosts bucket not checked")));
  s.run("bans watch", (signal) =>
    bus.watchBans((k, d, seal, rev, at) => bans.onEntry(k, d, seal, rev, at), (id, present, rev) => bans.onSeal(id, present, rev), signal, () => {
      controller.bansLoaded();
      banSide.bansLoaded();
    }, (k) => bans.onUnreadable(k)),
  );
  // another writer's puts to the desired bucket (a second controller) are undone, with a warning
  s.run("desired watch", (signal) => bus.watchDesired((id, entry) => controller.onDesiredEntry(id, entry), signal));
}

/** Follows the cluster's Nodes: their addresses are the truth for the hosts they are (kube-nodes.ts). */
async function followNodes(s: Supervisor, kc: KubeConfig, log: Logger, bans: BanKeeper, banSide: BanSide, registry: Registry): Promise<void> {
  const { NodeWatch } = await import("./kube.js");
  const nodes = new NodeWatch({ kubeconfig: kc, log, onNode: (id, node) => bans.setNode(id, node), onSettled: banSide.nodesSettled });
  await s.resource("node informer", () => nodes.start(), () => nodes.stop());
  counterOf(registry, "fleetwall_controller_node_informer_restarts_total", "Times the Node informer was started again after an error.", () => nodes.restarts);
}

interface Source {
  ready: () => boolean;
  onRegistration: (hostId: string) => void;
}

/** Where a source's resources go: the versions in force before this process (last-good bucket), and the sink for new sets. */
interface PolicyFlow {
  initial: readonly Resource[];
  accept: (set: PolicySet) => void;
}

async function startDir(cfg: Config, s: Supervisor, { initial, accept, log }: PolicyFlow & { log: Logger }): Promise<Source> {
  const source = new DirSource({
    dir: cfg.source.path,
    rescanMs: cfg.rescan,
    debounceMs: 50,
    initial,
    onChange: accept,
    onError: (error) => log.error({ err: error }, "policy directory unreadable"),
  });
  await s.resource(`policy directory ${cfg.source.path}`, () => source.start(), () => source.stop());
  return { ready: () => true, onRegistration: () => undefined };
}

interface KubeParts extends PolicyFlow {
  registry: Registry;
  controller: Controller;
  registrations: Map<string, HostRegistration>;
  kc: KubeConfig;
  /** Forgets a host: its registration, desired state and status. */
  forget: (hostId: string) => Promise<unknown>;
}

async function startKube(cfg: Config, log: Logger, s: Supervisor, { registry, controller, registrations, kc, initial, accept, forget }: KubeParts): Promise<Source> {
  const { KubeSource, kubeLogFields } = await import("./kube.js");
  const kube: KubeSource = new KubeSource({
    kubeconfig: kc,
    relistMs: cfg.relist,
    log,
    initial,
    onPolicies: accept,
    onHostLabels: (id, labels) => controller.setHostLabels(id, labels),
    onHostDeleted: (id) => onFirewallHostDeleted(id),
  });
  await s.resource("kubernetes informers", () => kube.start(), () => kube.stop());
  // FirewallHosts for registered agents, one host at a time, retried with backoff
  const hosts = new WorkQueue(
    async (id) => {
      const reg = registrations.get(id);
      if (reg) await kube.ensureHost(reg);
    },
    (id, error, retryInMs) => log.warn({ host: id, ...kubeLogFields(error), retryInMs }, "FirewallHost not written; retrying"),
  );
  s.defer("FirewallHost queue", () => hosts.stop());
  // kubectl delete fwh: a silent host is forgotten; one whose agent still reports gets its FirewallHost back
  const onFirewallHostDeleted = (id: string) => {
    const row = controller.status().hosts.find((h) => h.id === id);
    const action = firewallHostDeleted(row);
    if (action === "recreate") {
      log.warn({ host: id, lastSeen: row?.lastSeen }, "FirewallHost deleted while its agent still reports; created again (stop the agent, then delete it)");
      hosts.add(id);
    } else if (action === "forget") {
      forget(id).then(
        () => log.info({ host: id }, "FirewallHost deleted; host forgotten"),
        (err: unknown) => log.warn({ host: id, err }, "FirewallHost deleted; host not forgotten"),
      );
    }
  };
  const writer = new KubeStatusWriter(kube, controller, { minIntervalMs: Math.max(2 * cfg.statusInterval, 1000), budget: 50, log });
  s.run("status writer", (signal) => every(cfg.statusInterval, signal, async () => void (controller.ready && (await writer.tick())), (err) => log.warn({ err }, "status not written")));
  kubeMetrics(registry, { reconciles: () => kube.queue.processed, informerRestarts: () => kube.informerRestarts, relists: () => kube.relists, statusWrites: () => writer.writes, statusWriteFailures: () => writer.failures, statusPending: () => writer.pending });
  return { ready: () => kube.synced, onRegistration: (id) => hosts.add(id) };
}
