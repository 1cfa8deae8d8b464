import { Option, type Command } from "commander";
import type { NatsAccess } from "@fleetwall/runtime";

export type { NatsAccess } from "@fleetwall/runtime";

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
