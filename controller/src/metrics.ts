import { counterOf, gaugeOf, latencyOf } from "@fleetwall/runtime";
import type { Registry } from "prom-client";
import type { BanKeeper } from "./ban-keeper.js";
import type { Controller } from "./controller.js";

/** The controller's metrics, read from the counters its components keep when Prometheus scrapes. */
export function controllerMetrics(registry: Registry, controller: Controller, bans: BanKeeper, invalid: Record<string, number>): void {
  counterOf(registry, "fleetwall_controller_reconciles_total", "Reconcile passes.", () => controller.reconciles);
  controller.onReconcileMs = latencyOf(registry, "fleetwall_controller_reconcile_seconds", "Time of one reconcile pass (compile every host, publish what changed).", [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
  gaugeOf(registry, "fleetwall_controller_revision_lag", "Hosts whose applied revision is behind the desired one, and by how many revisions in all.", () => {
    const hosts = controller.status().hosts.filter((h) => h.appliedRevision < h.desiredRevision);
    return { hosts: hosts.length, revisions: hosts.reduce((n, h) => n + h.desiredRevision - h.appliedRevision, 0) };
  }, "measure");
  counterOf(registry, "fleetwall_controller_desired_published_total", "Desired states published (one per host and revision).", () => controller.published);
  counterOf(registry, "fleetwall_controller_desired_publish_failures_total", "Desired states not published: too large for the bus, or a put that failed (every attempt).", () => controller.failures.total);
  gaugeOf(registry, "fleetwall_controller_hosts_unpublished", "Hosts whose newest desired state is not published, by reason (they keep their previous one).", () => {
    const out = { TooLarge: 0, PublishFailed: 0 };
    for (const f of controller.failures.byHost.values()) out[f.reason] += 1;
    return out;
  }, "reason");
  counterOf(registry, "fleetwall_controller_desired_overwritten_total", "Desired states found overwritten by another writer (a second controller?) and published again.", () => controller.overwritten);
  counterOf(registry, "fleetwall_controller_ban_decisions_total", "Ban decisions written to the bans bucket.", () => bans.decisions);
  counterOf(registry, "fleetwall_controller_signals_skipped_total", "Jail signals the arbiter did not turn into a ban.", () => bans.skippedSignals);
  gaugeOf(registry, "fleetwall_controller_invalid_messages", "Messages dropped as malformed, by kind.", () => invalid, "kind");
  gaugeOf(registry, "fleetwall_controller_hosts", "Hosts by state.", () => {
    const s = controller.status();
    return { in_sync: s.hosts.filter((h) => h.inSync).length, out_of_sync: s.hosts.filter((h) => !h.inSync && !h.error).length, failed: s.hosts.filter((h) => h.error).length };
  }, "state");
  gaugeOf(registry, "fleetwall_controller_bans", "Decisions in the bans bucket.", () => bans.decisionsByKey.size);
}

/** Metrics of the Kubernetes source and status writer. */
export function kubeMetrics(registry: Registry, read: { reconciles(): number; informerRestarts(): number; relists(): number; statusWrites(): number; statusWriteFailures(): number; statusPending(): number }): void {
  counterOf(registry, "fleetwall_controller_kube_reconciles_total", "Keys reconciled from the informer caches.", read.reconciles);
  counterOf(registry, "fleetwall_controller_kube_informer_restarts_total", "Informers restarted after an error.", read.informerRestarts);
  counterOf(registry, "fleetwall_controller_kube_relists_total", "Informers replaced by a fresh list.", read.relists);
  counterOf(registry, "fleetwall_controller_status_writes_total", "Status subresource writes.", read.statusWrites);
  counterOf(registry, "fleetwall_controller_status_write_failures_total", "Status writes the API server refused.", read.statusWriteFailures);
  gaugeOf(registry, "fleetwall_controller_status_pending", "Objects whose status, after the last status pass, still differs from what the fleet says (rate-limited, over the budget, or refused).", read.statusPending);
}
