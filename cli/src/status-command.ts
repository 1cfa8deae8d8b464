import { connect } from "@nats-io/transport-node";
import { connectOptions } from "@fleetwall/runtime";
import type { NatsAccess } from "./nats-access.js";
import { FleetStatus, STATUS_REQUEST, boundedDurationMs, parseCidr } from "@fleetwall/api";
import { z } from "zod";
import { parseConfig } from "./config.js";

export class StatusUnavailableError extends Error {
  override name = "StatusUnavailableError";
}

export async function fetchStatus(access: NatsAccess, timeoutMs: number): Promise<FleetStatus> {
  const nc = await connect({ ...connectOptions(access, "fleetwall-cli"), timeout: timeoutMs });
  try {
    const msg = await nc.request(STATUS_REQUEST, new Uint8Array(), { timeout: timeoutMs }).catch((e: unknown) => {
      throw new StatusUnavailableError("no controller answered the status request", { cause: e });
    });
    return FleetStatus.parse(msg.json());
  } finally {
    await nc.close();
  }
}

const BANS_COLUMN = { InSync: "in sync", Differ: "DIFFER", Refused: "REFUSED", Unknown: "-" } as const;
const BANS_UNKNOWN = { Stale: "- (stale)", NotReported: "- (not reported yet)", Loading: "- (loading)" } as const;

/** The BANS column: the state, and when it is not known, why (a host just started reads the bans bucket first). */
export const bansColumn = (h: Pick<FleetStatus["hosts"][number], "bans" | "bansUnknown">): string => (h.bans === "Unknown" && h.bansUnknown ? BANS_UNKNOWN[h.bansUnknown] : BANS_COLUMN[h.bans]);

/** Plain-text tables for people. */
export function formatStatus(status: FleetStatus): string {
  const hosts = table(
    ["HOST", "LABELS", "DESIRED", "APPLIED", "IN SYNC", "LAST SEEN", "BANS", "ERROR"],
    status.hosts.map((h) => [
      h.id,
      Object.entries(h.labels).map(([k, v]) => `${k}=${v}`).join(",") || "-",
      String(h.desiredRevision),
      String(h.appliedRevision),
      h.stale ? "STALE" : h.inSync ? "yes" : h.unpublished ? "NOT PUBLISHED" : "no",
      h.lastSeen ?? "never",
      bansColumn(h),
      [h.unpublished?.message, h.error, refusedText(h)].filter(Boolean).join("; "),
    ]),
  );
  const policies = table(
    ["POLICY", "SELECTED", "APPLIED", "FAILED", "ERROR / WARNING"],
    status.policies.map((p) => [p.name, String(p.selectedHosts), String(p.appliedHosts), String(p.failedHosts), p.error ?? [p.unpublishedHosts ? `not published to ${p.unpublishedHosts} host(s): see HOST ERROR` : "", ...p.warnings].filter(Boolean).join("; ")]),
  );
  const lists = status.banLists.length
    ? `\n\n${table(["BANLIST", "TYPE", "ENTRIES", "ACTIVE", "HOSTS", "ERROR"], status.banLists.map((l) => [l.name, l.type, String(l.entries), String(l.active), String(l.hostsEnforcing), l.invalid ?? l.error ?? ""]))}`
    : "";
  return `${hosts}\n\n${policies}${lists}\n`;
}

/** The words for a host's refused addresses (`fleetwall hosts list` says why for each), empty when none. */
const refusedText = (h: FleetStatus["hosts"][number]): string =>
  h.refusedAddresses?.length ? `addresses not protected: ${h.refusedAddresses.map((r) => r.address).join(", ")}` : "";

/** An address's canonical text (`::ffff:8.8.4.4` is 8.8.4.4, as the controller judges it); text that is no address stays as it is. */
function canonical(address: string): string {
  try {
    return parseCidr(address).text;
  } catch {
    return address;
  }
}

/** `fleetwall hosts list`: each host's registered addresses, those protected and those refused with why. */
export function formatHosts(status: FleetStatus): string {
  const rows = status.hosts.map((h) => {
    // the controller names a refused address canonically; the registration may write it otherwise
    const refused = new Set(h.refusedAddresses?.map((r) => canonical(r.address)));
    const own = (h.addresses ?? []).filter((a) => !refused.has(canonical(a)));
    return [h.id, h.stale ? "STALE" : h.lastSeen ? "reporting" : "never seen", own.join(",") || "-", h.refusedAddresses?.map((r) => `${r.address} (${r.reason})`).join("; ") || "-"];
  });
  return `${table(["HOST", "STATE", "PROTECTED ADDRESSES", "REFUSED ADDRESSES (NOT PROTECTED)"], rows)}\n`;
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

/** `--timeout` of `status` in ms (100 ms to 10 minutes), or a ConfigError naming the flag. */
export function statusTimeoutMs(text: string): number {
  return parseConfig(z.object({ timeout: boundedDurationMs(100, 600_000) }), { timeout: text }).timeout;
}
