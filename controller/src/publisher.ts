import { SCHEMA_VERSION, type DesiredState } from "@fleetwall/api";
import type { CompiledHost } from "./compile.js";

export interface Published {
  revision: number;
  hash: string;
}

/**
 * What to publish: one new revision for each host whose compiled hash differs from what its key
 * holds. Revisions only grow, continuing from what the bucket already has, so a restarted
 * controller with unchanged input publishes nothing. Pure.
 */
export function planPublish(compiled: ReadonlyMap<string, CompiledHost>, published: ReadonlyMap<string, Published>): DesiredState[] {
  const out: DesiredState[] = [];
  for (const [hostId, host] of compiled) {
    const prev = published.get(hostId);
    if (prev && prev.hash === host.hash) continue;
    out.push({
      schemaVersion: SCHEMA_VERSION,
      hostId,
      revision: (prev?.revision ?? 0) + 1,
      hash: host.hash,
      policies: host.policies,
      ruleset: host.ruleset,
      jails: host.jails,
    });
  }
  return out;
}
