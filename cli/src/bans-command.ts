import { readFile } from "node:fs/promises";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import {
  BANS_BUCKET,
  BAN_ADD_REQUEST,
  BAN_DELETE_REQUEST,
  BAN_IMPORT_REQUEST,
  BanReply,
  HOSTS_BUCKET,
  SEAL_KEY_PREFIX,
  HostRegistration,
  parseBanDecision,
  parseEnvelopeText,
  matchesSelector,
  type Labels,
} from "@fleetwall/api";
import { table } from "./status-command.js";
import { connectOptions, type NatsAccess } from "./nats-access.js";

export class BanRefusedError extends Error {
  override name = "BanRefusedError";
}

async function withNats<T>(access: NatsAccess, fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
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

export const deleteBan = (access: NatsAccess, cidr: string) => request(access, BAN_DELETE_REQUEST, { cidr });

export interface BanRow {
  list: string;
  type: string;
  cidr: string;
  reason: string;
  source: string;
  origins: string[];
  expiresAt: string | null;
}

/** The decisions in force now, optionally only those that apply to one host (by its labels). */
export async function listBans(access: NatsAccess, hostId: string | undefined, now = Date.now()): Promise<BanRow[]> {
  return withNats(access, async (nc) => {
    const kvm = new Kvm(nc);
    let labels: Labels | undefined;
    if (hostId) {
      const e = await (await kvm.open(HOSTS_BUCKET, { bindOnly: true })).get(hostId);
      if (!e || e.operation !== "PUT") throw new BanRefusedError(`host ${hostId} has not registered`);
      labels = HostRegistration.parse(e.json()).labels;
    }
    const bans = await kvm.open(BANS_BUCKET, { bindOnly: true });
    const rows: BanRow[] = [];
    const watch = await bans.watch();
    if ((await bans.status()).values === 0) watch.stop();
    for await (const e of watch) {
      if (e.operation === "PUT" && !e.key.startsWith(SEAL_KEY_PREFIX)) {
        const env = parseEnvelopeText(e.string());
        const d = env.success ? parseBanDecision(env.data.payload) : undefined;
        if (d && (!d.expiresAt || Date.parse(d.expiresAt) > now) && (!labels || matchesSelector(d.hostSelector, labels))) {
          const { list, type, cidr, reason, source, origins, expiresAt } = d;
          rows.push({ list, type, cidr, reason, source, origins, expiresAt });
        }
      }
      if (e.delta === 0) break;
    }
    watch.stop();
    return rows.sort((a, b) => (a.list + a.cidr < b.list + b.cidr ? -1 : 1));
  });
}

export function formatBans(rows: BanRow[]): string {
  return `${table(
    ["LIST", "TYPE", "ADDRESS", "SOURCE", "EXPIRES", "ORIGINS", "REASON"],
    rows.map((r) => [r.list, r.type, r.cidr, r.source, r.expiresAt ?? "never", r.origins.join(",") || "-", r.reason]),
  )}\n`;
}
