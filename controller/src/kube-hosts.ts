/** A host's row in the fleet status, as far as deleting its FirewallHost is concerned. */
export interface HostRowLike {
  lastSeen: string | null;
  stale: boolean;
}

/**
 * What a FirewallHost deleted with kubectl means for its host. In Kubernetes that is how a
 * decommissioned host is forgotten (`fleetwall hosts delete` says so). Pure.
 * - `forget`: the host is registered and its agent is silent (stale, or never reported): forget its
 *   registration, desired state and status, as `fleetwall hosts delete` does elsewhere.
 * - `recreate`: its agent still reports: it would register again at its next start, so the
 *   FirewallHost is created again (with the agent's labels) and the operator is told to stop it first.
 * - `none`: no such host is registered (already forgotten, e.g. by the delete that removed the object).
 */
export function firewallHostDeleted(row: HostRowLike | undefined): "forget" | "recreate" | "none" {
  if (!row) return "none";
  return row.lastSeen && !row.stale ? "recreate" : "forget";
}

/**
 * `fleetwall hosts delete` with the Kubernetes source is refused: the FirewallHost is the handle
 * (deleting it forgets the host), so there is one way, and no FirewallHost is left orphaned.
 */
export async function refuseHostsDelete(hostId: string): Promise<{ ok: false; error: string; removed: string[] }> {
  return { ok: false, error: `with --source kube a host is forgotten by deleting its FirewallHost: kubectl delete firewallhost ${hostId} (stop its agent first)`, removed: [] };
}
