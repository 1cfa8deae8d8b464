import { lookup } from "node:dns/promises";
import { networkInterfaces } from "node:os";
import { isCidr, parseCidr, type Cidr } from "@fleetwall/api";
import { delay } from "@fleetwall/runtime";
import type { Logger } from "pino";

/** How often names of the control plane are resolved again. */
export const RESOLVE_EVERY_MS = 60_000;

/** Most addresses the control plane is taken to have (names can resolve to many). */
export const MAX_CONTROL_PLANE_ADDRESSES = 256;

/** The host part of each NATS URL (`nats://name:4222`, `tls://[::1]:4222`, `name:4222`). */
export function natsHosts(servers: readonly string[]): string[] {
  return servers.map((s) => new URL(s.includes("://") ? s : `nats://${s}`).hostname.replace(/^\[|\]$/g, ""));
}

/** What a NATS connection knows of its servers: as nats.js holds them, and as the server announces them. */
export interface KnownServers {
  info?: { connect_urls?: string[] | undefined } | undefined;
  getServers(): readonly { listen: string }[];
}

/**
 * The NATS servers to protect: those given (`--nats`), those the connection's pool holds, and the
 * `connect_urls` the server announces (its other addresses, as it listens on them: a name that
 * resolves to one family only leaves the other out otherwise). Addresses a server neither is named
 * by nor announces are for `--protect`.
 */
export function knownServers(given: readonly string[], nc: KnownServers | undefined): string[] {
  if (!nc) return [...given];
  return [...given, ...nc.getServers().map((s) => s.listen), ...(nc.info?.connect_urls ?? [])];
}

/** This machine's own addresses, loopback left out. */
export function ownAddresses(): Cidr[] {
  return Object.values(networkInterfaces())
    .flat()
    .flatMap((a) => (a && !a.internal ? [parseCidr(a.address)] : []));
}

/**
 * The control plane's addresses: each NATS server (names resolved, every address they have) and
 * this controller's own. A name that does not resolve now keeps what it resolved to before.
 */
export class ControlPlaneResolver {
  #last = new Map<string, Cidr[]>();

  /**
   * `servers`: the NATS URLs, or a function that gives them now (an agent adds the servers its
   * connection knows of: the one it is connected to and those the cluster announced).
   */
  constructor(
    private readonly servers: readonly string[] | (() => readonly string[]),
    private readonly log: Logger,
    private readonly resolve: (name: string) => Promise<string[]> = async (name) => (await lookup(name, { all: true })).map((a) => a.address),
    private readonly own: () => Cidr[] = ownAddresses,
    private readonly everyMs = RESOLVE_EVERY_MS,
  ) {}

  #lastOwn: Cidr[] = [];

  /** This machine's addresses; those found last when they cannot be read now (out of file descriptors: EMFILE). */
  #ownNow(): Cidr[] {
    try {
      this.#lastOwn = this.own();
    } catch (error) {
      this.log.warn({ err: error }, "own addresses not readable; keeping the last ones protected");
    }
    return this.#lastOwn;
  }

  async addresses(): Promise<Cidr[]> {
    const out: Cidr[] = [...this.#ownNow()];
    const servers = typeof this.servers === "function" ? this.servers() : this.servers;
    for (const host of new Set(natsHosts(servers))) {
      if (isCidr(host)) {
        out.push(parseCidr(host));
        continue;
      }
      try {
        this.#last.set(host, (await this.resolve(host)).map(parseCidr));
      } catch (error) {
        this.log.warn({ host, err: error }, "NATS server name does not resolve; keeping its last addresses protected");
      }
      out.push(...(this.#last.get(host) ?? []));
    }
    const unique = [...new Map(out.map((c) => [c.text, c])).values()].sort((a, b) => (a.text < b.text ? -1 : 1));
    return unique.slice(0, MAX_CONTROL_PLANE_ADDRESSES);
  }

  /** Resolves now and then every RESOLVE_EVERY_MS until aborted, handing each result on. */
  async run(onAddresses: (cidrs: Cidr[]) => void, signal: AbortSignal, first?: () => void): Promise<void> {
    for (let n = 0; !signal.aborted; n += 1) {
      // never thrown out of the loop: the process would exit, and the last addresses stay protected
      try {
        onAddresses(await this.addresses());
      } catch (error) {
        this.log.error({ err: error }, "control plane addresses not resolved this round");
      }
      if (n === 0) first?.();
      // the wait removes its abort listener when it ends (one left per round added up to Node's warning)
      await delay(this.everyMs, signal);
    }
  }
}
