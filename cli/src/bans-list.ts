import { Kvm } from "@nats-io/kv";
import { readBansSnapshot } from "@fleetwall/agent";
import { BANS_HOSTS_REQUEST, HOSTS_BUCKET, HostBansReply, HostRegistration, SEAL_KEY_PREFIX, matchesSelector, parseBanDecision, parseEnvelopeText, type BanDecision, type HostBansRow, type Labels } from "@fleetwall/api";
import type { NatsConnection } from "@nats-io/transport-node";
import { BanRefusedError, withNats } from "./bans-command.js";
import type { NatsAccess } from "./nats-access.js";
import { table } from "./status-command.js";

export interface BanRow {
  /** fleet: a decision in the bans bucket; local: a host's own jail ban (share: Local). */
  origin: "fleet" | "local";
  list: string;
  type: string;
  cidr: string;
  reason: string;
  source: string;
  origins: string[];
  expiresAt: string | null;
  /** For local bans, the host and the jail. */
  host?: string;
  jail?: string;
  /** Hosts that reported this element refused by nft. */
  refusedOn: string[];
}

export interface BanFilters {
  host?: string;
  origin?: "fleet" | "local";
  list?: string;
  jail?: string;
}

export interface BanListing {
  rows: BanRow[];
  /** With --host: what that host reports of its bans, against what it should hold. */
  host?: HostBansRow;
}

/**
 * One host's own jail ban as a row. Its report names the jail, not the failures that set it off, so
 * the reason says what is known: the jail and the host, and that the ban stays on that host.
 */
export function localBanRow(hostId: string, ban: { jail: string; address: string; expiresAt: number }, refusedOn: string[]): BanRow {
  const reason = `banned by jail ${ban.jail} on ${hostId} (its own ban; its report gives no failure count)`;
  return { origin: "local", list: "local", type: "Deny", cidr: ban.address, reason, source: "jail", origins: [hostId], expiresAt: new Date(ban.expiresAt).toISOString(), host: hostId, jail: ban.jail, refusedOn };
}

/** The bans in force: the fleet's decisions (from the bucket) and the hosts' local bans (from their reports), filtered. */
export async function listBans(access: NatsAccess, filters: BanFilters, now = Date.now()): Promise<BanListing> {
  return withNats(access, async (nc) => {
    const labels = filters.host ? await hostLabels(nc, filters.host) : undefined;
    // the hosts' reports come from the controller; without one, the fleet's decisions can still be listed
    const needed = !!filters.host || filters.origin === "local";
    const hosts = await hostBans(nc).catch((error: unknown) => {
      if (needed) throw error;
      process.stderr.write(`fleetwall: local bans not listed: ${(error as Error).message}\n`);
      return [] as HostBansRow[];
    });
    const host = filters.host ? hosts.find((h) => h.id === filters.host) : undefined;
    const refused = new Map<string, string[]>();
    for (const h of hosts) for (const r of h.refused) refused.set(r.element, [...(refused.get(r.element) ?? []), h.id]);
    const rows: BanRow[] = [];
    if (filters.origin !== "local") {
      for (const d of await decisions(nc)) {
        if ((d.expiresAt && Date.parse(d.expiresAt) <= now) || (labels && !matchesSelector(d.hostSelector, labels))) continue;
        const { list, type, cidr, reason, source, origins, expiresAt } = d;
        rows.push({ origin: "fleet", list, type, cidr, reason, source, origins, expiresAt, ...(source === "jail" ? { jail: d.scenario } : {}), refusedOn: refused.get(cidr) ?? [] });
      }
    }
    if (filters.origin !== "fleet") {
      for (const h of hosts) {
        if (filters.host && h.id !== filters.host) continue;
        for (const b of h.local) rows.push(localBanRow(h.id, b, refused.get(b.address)?.filter((x) => x === h.id) ?? []));
      }
    }
    const kept = rows.filter((r) => (!filters.list || r.list === filters.list) && (!filters.jail || r.jail === filters.jail));
    return { rows: kept.sort((a, b) => (a.list + a.cidr + (a.host ?? "") < b.list + b.cidr + (b.host ?? "") ? -1 : 1)), ...(host ? { host } : {}) };
  });
}

async function hostLabels(nc: NatsConnection, hostId: string): Promise<Labels> {
  const e = await (await new Kvm(nc).open(HOSTS_BUCKET, { bindOnly: true })).get(hostId);
  if (!e || e.operation !== "PUT") throw new BanRefusedError(`host ${hostId} has not registered`);
  return HostRegistration.parse(e.json()).labels;
}

async function hostBans(nc: NatsConnection): Promise<HostBansRow[]> {
  const msg = await nc.request(BANS_HOSTS_REQUEST, new Uint8Array(), { timeout: 5000 }).catch((e: unknown) => {
    throw new BanRefusedError("no controller answered (the hosts' local bans and ban digests come from it)", { cause: e });
  });
  return HostBansReply.parse(msg.json()).hosts;
}

/** The fleet's decisions in the bans bucket, read by direct get (no consumer: the operator may make none). */
async function decisions(nc: NatsConnection): Promise<BanDecision[]> {
  const dec = new TextDecoder();
  const out: BanDecision[] = [];
  for (const e of await readBansSnapshot(nc)) {
    if (!e.data || e.key.startsWith(SEAL_KEY_PREFIX)) continue;
    const env = parseEnvelopeText(dec.decode(e.data));
    const d = env.success ? parseBanDecision(env.data.payload) : undefined;
    if (d) out.push(d);
  }
  return out;
}

/** What a host reports of its bans, in one line: the digest compared, refusals, local bans. */
export function formatHostTruth(h: HostBansRow): string {
  if (h.epoch === 0) return `host ${h.id}: has not reported its bans${h.stale ? " (stale)" : ""}\n`;
  const verdict = { InSync: "matches its decisions", Differ: "DIFFERS from its decisions", Refused: `nft REFUSED ${h.refusedTotal} element(s): ${h.refused.map((r) => r.element).join(", ")}`, Unknown: "unknown" }[h.state];
  const stale = h.stale ? " — STALE: the host stopped reporting; this is its last report" : "";
  return `host ${h.id}: enforces ${h.count} decisions (digest ${h.digest}), should hold ${h.expectedCount} (digest ${h.expectedDigest}): ${verdict}; ${h.localTotal} local ban(s)${stale}\n`;
}

export function formatBans(listing: BanListing): string {
  const head = listing.host ? formatHostTruth(listing.host) : "";
  const rows = listing.rows.map((r) => [r.origin, r.list, r.type, r.cidr, r.source, r.jail ?? "-", r.host ?? (r.origins.join(",") || "-"), r.expiresAt ?? "never", r.refusedOn.length ? `REFUSED on ${r.refusedOn.join(",")}` : "", r.reason]);
  return `${head}${table(["ORIGIN", "LIST", "TYPE", "ADDRESS", "SOURCE", "JAIL", "HOSTS", "EXPIRES", "STATUS", "REASON"], rows)}\n`;
}
