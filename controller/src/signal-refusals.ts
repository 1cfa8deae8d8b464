import { gaugeOf } from "@fleetwall/runtime";
import type { Registry } from "prom-client";

/**
 * Why a jail signal was not turned into a fleet ban: a fixed set of codes, the `reason` label of
 * `fleetwall_controller_signals_refused`. A label is never text from the wire (a jail name, a host
 * id, an address), so the metric has at most this many series however signals are crafted; the log
 * line of a refusal carries the words, with the code.
 */
export const SIGNAL_REFUSALS = {
  "jail-not-run": "the signal names a jail its host's desired state does not run",
  "key-unstorable": "the list and address make no key the bans bucket can store",
  "not-an-address": "the address is not an address or CIDR",
  "prefix-too-broad": "the prefix is broader than --min-prefix4/--min-prefix6",
  "special-address": "loopback, link-local, multicast, broadcast, unspecified and the like: never banned",
  allowlisted: "inside an Allow BanList",
  "fleet-host": "an address a fleet host registered",
  "control-plane": "a NATS server, the controller, or --protect",
  "management-network": "an agent's --ssh-source management network (never banned automatically)",
  "needs-quorum": "a network, not one address: needs --min-reporters hosts",
  "over-budget": "its reporter alone is past --reporter-budget fleet bans in 60 s; kept local",
  "banned-longer": "a ban of the address in force already ends later",
} as const;

export type SignalRefusalCode = keyof typeof SIGNAL_REFUSALS;

export const SIGNAL_REFUSAL_CODES = Object.keys(SIGNAL_REFUSALS) as SignalRefusalCode[];

/** The codes of what is protected from any ban (`protection` in arbiter.ts). */
export type ProtectedCode = Extract<SignalRefusalCode, "prefix-too-broad" | "special-address" | "allowlisted" | "fleet-host" | "control-plane" | "management-network">;

/** A count per code, every code present (the metric shows each, zero included). */
export function refusalCounts(): Record<SignalRefusalCode, number> {
  return Object.fromEntries(SIGNAL_REFUSAL_CODES.map((c) => [c, 0])) as Record<SignalRefusalCode, number>;
}

/** `fleetwall_controller_signals_refused{reason}`: the counts `read` gives, one series per code. */
export function signalsRefusedMetric(registry: Registry, read: () => Record<SignalRefusalCode, number>): void {
  gaugeOf(registry, "fleetwall_controller_signals_refused", `Jail signals not turned into a fleet ban (counted since start), by reason: ${SIGNAL_REFUSAL_CODES.join(", ")} (controller/src/signal-refusals.ts).`, read, "reason");
}
