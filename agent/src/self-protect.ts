import { SPECIAL_NETWORKS, type Cidr } from "@fleetwall/api";
import { ControlPlaneResolver } from "@fleetwall/runtime";
import type { Logger } from "pino";
import type { BanSync } from "./bans.js";

/**
 * What this host never bans, locally or by a fleet decision, besides its management sources: the
 * special networks (loopback, multicast, link-local, …), its own addresses and its NATS servers
 * (the URLs it was given, the server it is connected to and those the cluster announced, names
 * resolved, again every minute). All go into the bans table's allowlist, which is matched before
 * any ban: a log line naming the NATS server cannot cut the agent off the bus.
 */
/** Most addresses protected this way (names may resolve to many, and to others over time). */
export const MAX_SELF_PROTECTED = 1024;

export class SelfProtection {
  readonly #done = new Set<string>();

  constructor(
    private readonly bans: BanSync,
    private readonly log: Logger,
  ) {
    for (const s of SPECIAL_NETWORKS) void this.#protect(s.cidr);
  }

  /** Protects `cidrs` (added, never removed: an address once the bus's stays safe until the agent restarts). */
  add(cidrs: readonly Cidr[]): void {
    const room = Math.max(0, MAX_SELF_PROTECTED - this.#done.size);
    const fresh = cidrs.filter((c) => !this.#done.has(c.text)).slice(0, room);
    for (const c of fresh) void this.#protect(c.text);
    if (fresh.length > 0) this.log.info({ addresses: fresh.map((c) => c.text) }, "own and control-plane addresses protected from bans");
  }

  get size(): number {
    return this.#done.size;
  }

  #protect(text: string): Promise<void> {
    this.#done.add(text);
    return this.bans.protect(text);
  }

  /** Resolves the control plane now and every minute until `signal` aborts, protecting what it finds. */
  run(servers: () => readonly string[], signal: AbortSignal): Promise<void> {
    return new ControlPlaneResolver(servers, this.log).run((cidrs) => this.add(cidrs), signal);
  }
}
