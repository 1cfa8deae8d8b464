import { readFileSync } from "node:fs";
import { Option, type Command } from "commander";
import { credsAuthenticator, nkeyAuthenticator, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import type { Logger } from "pino";

/** How a fleetwall process reaches NATS: servers, its own credentials, and TLS. */
export interface NatsAccess {
  nats: string[];
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

/** Adds the NATS flags every command that talks to the bus shares. */
export function withNatsOptions(cmd: Command, required = true): Command {
  const nats = new Option("--nats <urls>", "NATS server URLs, comma-separated (tls://HOST:PORT for TLS)").env("FLEETWALL_NATS");
  return cmd
    .addOption(required ? nats.makeOptionMandatory() : nats)
    .addOption(new Option("--nats-nkey <file>", "nkey seed file this process authenticates with").env("FLEETWALL_NATS_NKEY"))
    .addOption(new Option("--nats-creds <file>", "NATS credentials file (JWT + seed)").env("FLEETWALL_NATS_CREDS"))
    .addOption(new Option("--nats-ca <file>", "CA certificate of the NATS servers (PEM); turns TLS on").env("FLEETWALL_NATS_CA"))
    .addOption(new Option("--nats-cert <file>", "client certificate for NATS (PEM)").env("FLEETWALL_NATS_CERT"))
    .addOption(new Option("--nats-key <file>", "client certificate key for NATS (PEM)").env("FLEETWALL_NATS_KEY"))
    .addOption(new Option("--nats-tls-name <name>", "check the servers' certificates against this name (for URLs with IP addresses)").env("FLEETWALL_NATS_TLS_NAME"));
}

/** Raw flags (a comma-separated --nats) as a NatsAccess. */
export function natsAccess(opts: { nats: string } & Omit<NatsAccess, "nats">): NatsAccess {
  return { ...opts, nats: opts.nats.split(",").map((s) => s.trim()).filter(Boolean) };
}

/**
 * The nats.js options for a NatsAccess. An agent passes `inbox`: its replies then arrive under a
 * prefix of its own, which the server's permissions can confine it to.
 */
export function connectOptions(access: NatsAccess, name: string, inbox?: string): NodeConnectionOptions {
  // no async stack traces: nats.js would capture one for every request and KV put (about 2 % of the
  // controller's CPU at 10,000 decisions a second); our own logs say where an operation started
  const options: NodeConnectionOptions = { servers: access.nats, name, noAsyncTraces: true };
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

/**
 * Warns when the bus asks for no authentication (anyone who reaches it may read every host's state
 * and add or delete bans). Returns whether it does.
 */
export function warnIfOpenBus(nc: NatsConnection, access: NatsAccess, log: Logger): boolean {
  const authenticated = nc.info?.auth_required === true;
  if (!authenticated) {
    log.warn({ servers: access.nats, credentials: !!(access.natsNkey || access.natsCreds) }, "NATS asks for no authentication: anyone who reaches it can read every host's state and add or delete bans; see `fleetwall nats-auth`");
  }
  return authenticated;
}
