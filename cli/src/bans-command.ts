import { readFile } from "node:fs/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  BAN_ADD_REQUEST,
  BAN_DELETE_REQUEST,
  BAN_IMPORT_REQUEST,
  BanReply,
  parseDurationMs,
} from "@fleetwall/api";
import { connectOptions } from "@fleetwall/runtime";
import type { NatsAccess } from "./nats-access.js";
import { ConfigError } from "./config-error.js";

export class BanRefusedError extends Error {
  override name = "BanRefusedError";
}

export async function withNats<T>(access: NatsAccess, fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const nc = await connect({ ...connectOptions(access, "fleetwall-cli"), timeout: 3000 });
  try {
    return await fn(nc);
  } finally {
    await nc.close();
  }
}

async function requestOn(nc: NatsConnection, subject: string, body: unknown, timeoutMs = 5000): Promise<BanReply> {
  const msg = await nc.request(subject, new TextEncoder().encode(JSON.stringify(body)), { timeout: timeoutMs });
  const reply = BanReply.parse(msg.json());
  if (!reply.ok) throw new BanRefusedError(reply.error ?? "refused");
  return reply;
}

const request = (access: NatsAccess, subject: string, body: unknown) => withNats(access, (nc) => requestOn(nc, subject, body));

/**
 * Bans every address or CIDR of a file (one per line, `#` comments) through the controller, in
 * chunks of 5,000: each member travels as its own decision in the bans bucket.
 */
export async function importBans(access: NatsAccess, file: string, list: string, durationSeconds: number | null, reason: string): Promise<{ published: number; refused: { cidr: string; reason: string }[] }> {
  const entries = (await readFile(file, "utf8"))
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim())
    .filter(Boolean);
  return withNats(access, async (nc) => {
    let published = 0;
    const refused: { cidr: string; reason: string }[] = [];
    for (let i = 0; i < entries.length; i += 5000) {
      const reply = await requestOn(nc, BAN_IMPORT_REQUEST, { list, durationSeconds, reason, entries: entries.slice(i, i + 5000) }, 60_000);
      published += reply.published ?? 0;
      refused.push(...(reply.refused ?? []));
    }
    return { published, refused };
  });
}

export const addBan = (access: NatsAccess, cidr: string, durationSeconds: number | null, reason: string) =>
  request(access, BAN_ADD_REQUEST, { cidr, durationSeconds, reason });

/** Lifts the fleet's decisions and the hosts' local bans of `cidr`; the controller waits for hosts to confirm (up to 10 s). */
export const deleteBan = (access: NatsAccess, cidr: string) => withNats(access, (nc) => requestOn(nc, BAN_DELETE_REQUEST, { cidr }, 15_000));

export { listBans, formatBans, formatHostTruth, type BanRow, type BanFilters, type BanListing } from "./bans-list.js";

/** `--duration` of `bans add`/`import`: whole seconds, at least one (the controller bounds it by its --max-ban); null without one. */
export function banSeconds(text: string | undefined): number | null {
  if (text === undefined) return null;
  try {
    const ms = parseDurationMs(text);
    if (ms < 1000 || ms % 1000 !== 0) throw new ConfigError(`--duration: ${text} must be whole seconds, at least 1s`);
    return ms / 1000;
  } catch (error) {
    throw error instanceof ConfigError ? error : new ConfigError(`--duration: ${(error as Error).message}`);
  }
}
