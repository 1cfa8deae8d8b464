import { DESIRED_BUCKET, parseCidr, type Cidr } from "@fleetwall/api";
import { counterOf, gaugeOf, warnIfOpenBus } from "@fleetwall/runtime";
import type { Registry } from "prom-client";
import type { Logger } from "pino";
import type { ArbiterConfig } from "./arbiter.js";
import type { BanKeeper } from "./ban-keeper.js";
import type { ControllerBus } from "./bus.js";
import type { ControllerConfig } from "./config.js";
import { ConsumerGuard } from "./consumer-guard.js";
import { ControlPlaneResolver, knownServers } from "@fleetwall/runtime";
import type { Controller } from "./controller.js";
import type { ProtectionPublisher } from "./protection-publisher.js";
import { signalsRefusedMetric } from "./signal-refusals.js";
import { hostAddressRule } from "./host-networks.js";

/** The arbiter's bounds from the controller's flags. */
export function arbiterConfig(cfg: Readonly<ControllerConfig>): ArbiterConfig {
  return {
    minReporters: cfg.minReporters,
    reportWindowSeconds: cfg.reportWindow,
    maxBanSeconds: cfg.maxBan,
    soloMaxBanSeconds: Math.min(cfg.reporterMaxBan, cfg.maxBan),
    soloBudgetPerMinute: cfg.reporterBudget,
    minPrefix: { ip: cfg.minPrefix4, ip6: cfg.minPrefix6 },
    protect: cfg.protect.map(parseCidr),
    hostAddresses: hostAddressRule(cfg.hostNetworks),
  };
}

/** A promise opened once, from outside. */
function gate(): { done: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (open = resolve));
  return { done, open };
}

const aborted = (signal: AbortSignal) => new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true })));

/**
 * The ban side's start-up order and guards: no signal is judged before registrations, decisions
 * (allowlists) and the control plane's addresses are loaded; consumers of the fleetwall streams are
 * checked as they are made; the bus is said to be open when it is.
 */
export class BanSide {
  readonly #hosts = gate();
  readonly #bans = gate();
  readonly #controlPlane = gate();
  readonly #nodes = gate();
  readonly guard: ConsumerGuard;
  /** Publishes the fleet's protection list once registrations and the control plane are loaded (none: agents protect only what they know). */
  protections: ProtectionPublisher | undefined;

  constructor(
    private readonly bus: ControllerBus,
    private readonly bans: BanKeeper,
    controller: Controller,
    private readonly cfg: Readonly<ControllerConfig>,
    private readonly log: Logger,
  ) {
    // a consumer that delivered into a host's desired key may have overwritten it: publish it again
    const prefix = `$KV.${DESIRED_BUCKET}.`;
    this.guard = new ConsumerGuard(bus.nc, log, (subject) => subject.startsWith(prefix) && controller.republish(subject.slice(prefix.length)));
  }

  /** The hosts bucket has been read once. */
  hostsLoaded = (): void => this.#hosts.open();
  /** The bans bucket has been read once. */
  bansLoaded = (): void => this.#bans.open();
  /** The Kubernetes Nodes have been listed once, or could not be (none: at once). */
  nodesSettled = (): void => this.#nodes.open();

  async start(): Promise<void> {
    warnIfOpenBus(this.bus.nc, this.cfg, this.log);
    const rule = hostAddressRule(this.cfg.hostNetworks);
    this.log.info({ hostNetworks: rule.networks.map((n) => n.text), default: !rule.explicit }, "registered host addresses are protected only inside the host networks");
    await this.guard.start();
  }

  metrics(registry: Registry): void {
    signalsRefusedMetric(registry, () => this.bans.skipped);
    counterOf(registry, "fleetwall_controller_registration_claims_refused_total", "Addresses and networks in registrations the controller did not accept.", () => this.bans.protection.refusedClaims);
    gaugeOf(registry, "fleetwall_controller_host_addresses_refused", "Registered host addresses not taken as their host's own (outside --host-networks, networks, past the cap): not protected; `fleetwall hosts list` names them.", () => [...this.bans.protection.refusedAddresses.values()].reduce((n, r) => n + r.length, 0));
    counterOf(registry, "fleetwall_controller_foreign_messages_purged_total", "Messages of one fleetwall stream found stored in another (copied by a consumer) and purged.", () => this.guard.purged);
    counterOf(registry, "fleetwall_controller_consumers_deleted_total", "Consumers of fleetwall streams deleted as not allowed (foreign deliver subjects, too many).", () => this.guard.deleted);
    counterOf(registry, "fleetwall_controller_arbiter_consumer_recreations_total", "Times the arbiter's consumer was missing and made again.", () => this.bus.consumerRecreations);
    counterOf(registry, "fleetwall_controller_replayed_decisions_total", "Decisions found in the bans bucket long after they were signed (put back), deleted again.", () => this.bans.replays);
    gaugeOf(registry, "fleetwall_controller_fleet_protected", "Entries of the fleet's protection list last published (agents never ban them).", () => this.protections?.entries ?? 0);
    gaugeOf(registry, "fleetwall_controller_fleet_protected_left_out", "Protected addresses left out of the fleet's list (too many); the controller still refuses to ban them fleet-wide.", () => this.protections?.leftOut ?? 0);
    counterOf(registry, "fleetwall_controller_fleet_protection_overwritten_total", "Puts of the fleet's protection list by another writer, each published over.", () => this.protections?.overwritten ?? 0);
    counterOf(registry, "fleetwall_controller_fleet_protection_lost_total", "Times the fleet's protection list was found missing from its bucket (the bucket deleted), made again and published again.", () => this.protections?.lost ?? 0);
    counterOf(registry, "fleetwall_controller_fleet_protection_publish_failures_total", "Fleet protection lists the bus did not store.", () => this.protections?.failures ?? 0);
    gaugeOf(registry, "fleetwall_controller_reporter_addresses", "Addresses the arbiter remembers reports of.", () => this.bans.reporters.size);
  }

  /** Resolves the control plane, waits for what must be loaded, then judges signals and syncs BanLists until aborted. */
  async run(signal: AbortSignal): Promise<void> {
    let last = "";
    const onAddresses = (cidrs: Cidr[]) => {
      const texts = cidrs.map((c) => c.text).join(",");
      if (texts !== last) this.log.info({ servers: this.cfg.nats, addresses: cidrs.map((c) => c.text) }, "control plane addresses never banned");
      last = texts;
      this.bans.setResolved(cidrs);
    };
    const resolving = new ControlPlaneResolver(() => knownServers(this.cfg.nats, this.bus.nc), this.log).run(onAddresses, signal, this.#controlPlane.open);
    await Promise.race([Promise.all([this.#hosts.done, this.#bans.done, this.#controlPlane.done, this.#nodes.done, this.bans.jailsKnown]), aborted(signal)]);
    if (!signal.aborted) {
      this.log.info({ decisions: this.bans.decisionsByKey.size }, "registrations and protections loaded; judging signals");
      await Promise.all([this.bans.run(signal), this.bus.consumeSignals((s) => this.bans.onSignal(s), signal), this.protections?.run(signal)]);
    }
    await resolving;
  }

  stop(): void {
    this.guard.stop();
  }
}
