import type { HostRegistration, HostReport } from "@fleetwall/api";
import type { SignalSink } from "./defender.js";

/** What the agent needs from the bus; `AgentLink` in production. */
export interface AgentBus extends SignalSink {
  register(reg: HostRegistration, signal: AbortSignal): Promise<void>;
  /** `stored`: the value was read from the bucket, and may be older than one delivered before. */
  watchDesired(onValue: (data: Uint8Array, stored: boolean) => Promise<void>, signal: AbortSignal): Promise<void>;
  /**
   * `storedAtMs`: when the bucket stored the entry, when known (replay protection). `onSynced`: every
   * entry the bucket held when a catch-up began has been delivered (called after each catch-up).
   */
  watchBans(onEntry: (key: string, data: Uint8Array | null, storedAtMs?: number) => void, signal: AbortSignal, onSynced?: () => void): Promise<void>;
  publishReport(report: HostReport): void;
  /** The controller's signed orders to lift a local ban (optional: a bus without them lifts nothing). */
  watchLifts?(onLift: (data: Uint8Array) => void, signal: AbortSignal): Promise<void>;
  /** Operators' requests for the kernel's ban elements, each answered with what `answer` makes (optional). */
  serveElements?(answer: (request: Uint8Array, maxBytes: number) => Promise<Uint8Array>, signal: AbortSignal): Promise<void>;
  roundTrip(timeoutMs: number): Promise<boolean>;
  /** The fleet's protection list, as `watchDesired` delivers desired state (optional: a bus without it protects only what the host knows). */
  watchProtection?(onValue: (data: Uint8Array, stored: boolean) => Promise<void>, signal: AbortSignal): Promise<void>;
}

export interface AgentOptions {
  hostId: string;
  registration: Omit<HostRegistration, "schemaVersion" | "hostId" | "startedAt">;
  /** The controller's public key (PEM) when configured; otherwise the first key seen is pinned, if allowed. */
  controllerKey: string | undefined;
  /** Pin the first key seen (when no key is configured); also allowed later by `allowPinning()` (an authenticated bus). */
  mayPinFirstKey?: boolean;
  heartbeatMs: number;
  driftIntervalMs: number;
  /** Commit-confirm window: how long the bus may take to answer after an apply. */
  confirmWindowMs: number;
  now: () => Date;
}
