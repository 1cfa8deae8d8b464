import type { BanReply } from "@fleetwall/api";
import type { HostDeleteReply } from "./bus-hosts.js";
import type { LocalBanLifter } from "./local-lift.js";

/** What `bans delete` needs of the ban keeper. */
export interface FleetBanDeleter {
  delete(cidr: string): Promise<BanReply>;
}

/**
 * `bans delete X`: lifts the fleet's decisions for X and the local ban of X on every host that
 * reports one, waiting (up to 10 s) for those hosts to confirm. Refused only when there was nothing to lift.
 */
export async function deleteEverywhere(cidr: string, fleet: FleetBanDeleter, lifter: LocalBanLifter): Promise<BanReply> {
  const decided = await fleet.delete(cidr);
  if (lifter.holders(cidr).length === 0) return decided;
  // generous: a loaded host reports the lift within its next heartbeat or so
  const local = await lifter.lift(cidr, 10_000);
  const reply: BanReply = { ok: true, keys: decided.ok ? decided.keys : [], lifted: local.lifted, unconfirmed: local.unconfirmed };
  if (local.unconfirmed.length > 0) reply.error = `not confirmed lifted on ${local.unconfirmed.join(", ")}`;
  return reply;
}

/** What forgetting a host needs of the controller and the bus. */
export interface HostForgetter {
  status(): { hosts: { id: string; stale: boolean; lastSeen: string | null }[] };
  forgetHost(id: string): void;
}

/**
 * `hosts delete ID`: forgets a decommissioned host (registration, desired state, status). A host
 * whose agent still reports is refused unless `force`: it would register again at its next start.
 */
export async function forgetHost(id: string, force: boolean, bus: { deleteHost(id: string): Promise<void> }, controller: HostForgetter): Promise<HostDeleteReply> {
  const row = controller.status().hosts.find((h) => h.id === id);
  if (!row && !force) return { ok: false, error: `no host ${id} is registered`, removed: [] };
  if (row && row.lastSeen && !row.stale && !force) return { ok: false, error: `host ${id} still reports (last at ${row.lastSeen}): stop its agent first, or use --force`, removed: [] };
  await bus.deleteHost(id);
  controller.forgetHost(id);
  return { ok: true, removed: ["registration", "desired state", "status"] };
}
