import { readFileSync } from "node:fs";
import { isCidr, parseCidr } from "@fleetwall/api";
import { connect, credsAuthenticator, nkeyAuthenticator, type NatsConnection, type NodeConnectionOptions, type Status } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { delay, retry } from "./retry.js";

/** How a fleetwall process reaches NATS: servers, its own credentials, and TLS. */
export interface NatsAccess {
  nats: readonly string[];
  /** An nkey seed file (`SU…`): the server's config lists its public key with the user's permissions. */
  natsNkey?: string | undefined;
  /** A `.creds` file (JWT and seed) for servers in operator mode. */
  natsCreds?: string | undefined;
  /** CA certificate (PEM) that signed the servers' certificates; enables TLS. */
  natsCa?: string | undefined;
  /** Client certificate and key (PEM), for servers that verify clients. */
  natsCert?: string | undefined;
  natsKey?: string | undefined;
  /** The name the servers' certificates are checked against, for URLs that give an IP address. */
  natsTlsName?: string | undefined;
}

/**
 * The nats.js options for a NatsAccess. An agent passes `inbox`: its replies then arrive under a
 * prefix of its own, which the server's permissions can confine it to.
 */
export function connectOptions(access: NatsAccess, name: string, inbox?: string): NodeConnectionOptions {
  // no async stack traces: nats.js would capture one for every request and KV put (about 2 % of the
  // controller's CPU at 10,000 decisions a second); our own logs say where an operation started
  const options: NodeConnectionOptions = { servers: [...access.nats], name, noAsyncTraces: true };
  if (inbox) options.inboxPrefix = inbox;
  if (access.natsNkey) options.authenticator = nkeyAuthenticator(new TextEncoder().encode(readFileSync(access.natsNkey, "utf8").trim()));
  else if (access.natsCreds) options.authenticator = credsAuthenticator(readFileSync(access.natsCreds));
  if (access.natsCa || access.natsCert || access.natsKey || access.natsTlsName || access.nats.some((s) => s.startsWith("tls://"))) {
    options.tls = {
      // nats.js checks a server given by IP address against "localhost": name the certificate instead
      ...(access.natsTlsName ? { servername: access.natsTlsName } : {}),
      ...(access.natsCa ? { caFile: access.natsCa } : {}),
      ...(access.natsCert ? { certFile: access.natsCert } : {}),
      ...(access.natsKey ? { keyFile: access.natsKey } : {}),
    };
  }
  return options;
}

/** A NATS server as the failsafe rules and the arbiter's protection see it: address (when the URL has one) and port. */
export interface NatsEndpoint {
  address?: string;
  family?: "ip" | "ip6";
  port: number;
}

/** The endpoints of NATS server URLs (`nats://10.0.0.1:4222`, `tls://[2001:db8::1]`, `host:4222`). */
export function natsEndpoints(servers: readonly string[]): NatsEndpoint[] {
  return servers.map((s) => {
    const url = new URL(s.includes("://") ? s : `nats://${s}`);
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(url.port || 4222);
    if (!isCidr(host)) return { port };
    const c = parseCidr(host);
    return { address: c.text, family: c.family, port };
  });
}

/**
 * Connects to NATS, trying again with backoff as long as no server answers, until `signal` aborts.
 * Once connected, nats.js reconnects by itself for ever. A connection that is made after the abort
 * is closed.
 */
export function connectNats(options: NodeConnectionOptions, signal: AbortSignal, log: Logger): Promise<NatsConnection> {
  log.info({ servers: options.servers }, "connecting to NATS");
  return retry(
    () => connect({ ...options, waitOnFirstConnect: false, maxReconnectAttempts: -1, reconnectTimeWait: 500, timeout: options.timeout ?? 5_000 }),
    {
      signal,
      initialMs: 500,
      maxMs: 5_000,
      jitter: 0.2,
      onRetry: (err, retryInMs) => log.warn({ err, retryInMs, servers: options.servers }, "NATS not reachable; retrying"),
      late: (nc) => void nc.close(),
    },
  );
}

/**
 * Closes a connection: drains it (what was published is flushed) when the server is there, and waits
 * at most `graceMs` for that; a connection that is reconnecting is closed at once.
 */
export async function closeNats(nc: NatsConnection, graceMs = 1_000): Promise<void> {
  if (nc.isClosed()) return;
  const ac = new AbortController();
  await Promise.race([nc.drain().catch(() => undefined), delay(graceMs, ac.signal)]);
  ac.abort();
  await nc.close().catch(() => undefined);
}

/** Logs the connection's losses and returns until `signal` aborts (a runnable of both processes). */
export async function logNatsStatus(nc: NatsConnection, log: Logger, signal: AbortSignal): Promise<void> {
  const events = nc.status() as AsyncIterable<Status> & { stop?: () => void };
  const stop = () => events.stop?.();
  signal.addEventListener("abort", stop, { once: true });
  try {
    for await (const s of events) {
      if (s.type === "disconnect") log.warn({ server: s.server }, "NATS connection lost");
      else if (s.type === "reconnect") log.info({ server: s.server }, "NATS connection back");
    }
  } finally {
    signal.removeEventListener("abort", stop);
  }
}

/**
 * Warns when the bus asks for no authentication (anyone who reaches it may read every host's state
 * and add or delete bans). Returns whether it asks for it.
 */
export function warnIfOpenBus(nc: NatsConnection, access: NatsAccess, log: Logger): boolean {
  const authenticated = nc.info?.auth_required === true;
  if (!authenticated) {
    log.warn({ servers: access.nats, credentials: !!(access.natsNkey || access.natsCreds) }, "NATS asks for no authentication: anyone who reaches it can read every host's state and add or delete bans; see `fleetwall nats-auth`");
  }
  return authenticated;
}
