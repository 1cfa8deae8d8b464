import { counterOf, gaugeOf, latencyOf } from "@fleetwall/runtime";
import { Counter, type Registry } from "prom-client";
import type { Agent } from "./agent.js";
import type { Defender } from "./defender.js";
import type { JailRunner } from "./jails.js";
import type { AgentLink } from "./link.js";
import type { NftRunner } from "./nft.js";
import type { FleetShield } from "./fleet-shield.js";

export interface AgentParts {
  agent: Agent;
  nft: NftRunner;
  defender: Defender;
  jails: JailRunner | undefined;
  link: () => AgentLink | undefined;
  shield?: FleetShield;
}

/** The agent's metrics, read from the counters its components keep when Prometheus scrapes. */
export function agentMetrics(registry: Registry, { agent, nft, defender, jails, link, shield }: AgentParts): void {
  counterOf(registry, "fleetwall_agent_applies_total", "Rulesets applied and confirmed.", () => agent.applies);
  agent.onApplyMs = latencyOf(registry, "fleetwall_agent_apply_seconds", "Time of one nft transaction replacing the policy table.", [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]);
  counterOf(registry, "fleetwall_agent_apply_failures_total", "Rulesets nft refused or read back wrong.", () => agent.applyFailures);
  counterOf(registry, "fleetwall_agent_rollbacks_total", "Rulesets rolled back by commit-confirm.", () => agent.rollbacks);
  counterOf(registry, "fleetwall_agent_drift_repairs_total", "Foreign changes to the table repaired.", () => agent.driftRepairs);
  counterOf(registry, "fleetwall_agent_messages_dropped_total", "Desired states and decisions dropped as malformed, unsigned or forged.", () => agent.droppedMessages + defender.droppedDecisions + (link()?.bogusLive ?? 0) + (shield?.dropped ?? 0));
  counterOf(registry, "fleetwall_agent_live_dropped_total", "Live messages dropped before use (also in messages_dropped): ban entries the bans stream did not republish or beyond its last revision, JetStream answers sent to a followed subject.", () => link()?.bogusLive ?? 0);
  counterOf(registry, "fleetwall_agent_desired_inflate_refusals_total", "Desired states refused because their compressed payload inflates past the bound (64 MiB).", () => agent.inflateRefusals);
  counterOf(registry, "fleetwall_agent_signals_sent_total", "Jail detections delivered to the signals stream.", () => defender.signalsSent);
  counterOf(registry, "fleetwall_agent_ban_element_errors_total", "Ban set elements nft refused.", () => defender.bans.errors);
  counterOf(registry, "fleetwall_agent_nft_session_fallbacks_total", "Ban batches run through nft -f because the long-lived nft could not take them.", () => nft.fallbacks ?? 0);
  counterOf(registry, "fleetwall_agent_log_lines_total", "Log lines read by jails.", () => jails?.linesRead ?? 0);
  counterOf(registry, "fleetwall_agent_log_matches_total", "Log lines a jail filter matched.", () => jails?.linesMatched ?? 0);
  counterOf(registry, "fleetwall_agent_log_ambiguous_total", "Log lines naming two candidate sources (sshd, nginx, GoToSocial; a crafted user name): no one's failure.", () => jails?.linesAmbiguous ?? 0);
  labelledCounterOf(registry, "fleetwall_agent_jail_lines_too_old_total", "Failures logged more than the jail's findTime before they were read (an old log appended, a clock gone wrong): not counted.", () => jails?.linesTooOld ?? {}, "jail");
  counterOf(registry, "fleetwall_agent_log_untrusted_total", "Journal entries tagged sshd that sshd did not write (by the journal's trusted fields): ignored.", () => jails?.linesUntrusted ?? 0);
  counterOf(registry, "fleetwall_agent_element_listings_total", "Operators' requests for the kernel's ban elements answered with a listing.", () => agent.elementListings.answered);
  counterOf(registry, "fleetwall_agent_element_requests_refused_total", "Operators' element requests refused: malformed, while another was listed, or nothing to list.", () => agent.elementListings.refused);
  gaugeOf(registry, "fleetwall_agent_jail_bans_skipped", "Jail bans not made, by reason (special: loopback, multicast, link-local; protected: allowlisted, own, NATS, management or in the fleet's protection list).", () => defender.skipped, "reason");
  gaugeOf(registry, "fleetwall_agent_fleet_protected", "Entries of the fleet's protection list in force here (never banned, locally or by a decision).", () => shield?.size ?? 0);
  gaugeOf(registry, "fleetwall_agent_fleet_protection_revision", "Revision of the fleet's protection list in force.", () => shield?.revision ?? 0);
  gaugeOf(registry, "fleetwall_agent_applied_revision", "Desired-state revision in force.", () => agent.appliedRevision);
  gaugeOf(registry, "fleetwall_agent_bans_active", "Bans in the kernel's sets.", () => defender.bans.activeBans);
  gaugeOf(registry, "fleetwall_agent_signals_queued", "Detections waiting for the bus.", () => defender.queuedSignals);
}

/** A counter per label value, mirroring monotonically growing numbers kept elsewhere. */
function labelledCounterOf(registry: Registry, name: string, help: string, read: () => Readonly<Record<string, number>>, labelName: string): Counter {
  const last = new Map<string, number>();
  return new Counter({
    name,
    help,
    labelNames: [labelName],
    registers: [registry],
    collect() {
      for (const [k, n] of Object.entries(read())) {
        const before = last.get(k) ?? 0;
        if (n > before) this.inc({ [labelName]: k }, n - before);
        last.set(k, Math.max(before, n));
      }
    },
  });
}
