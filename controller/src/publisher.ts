import { SCHEMA_VERSION, signPayload, type DesiredState, type SigningKey } from "@fleetwall/api";
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

/**
 * Hosts that select the same policies share one compiled `ruleset` object (compile.ts), a state of
 * tens of kilobytes. Its JSON, and that JSON escaped as a string inside the envelope, are made once
 * per distinct state instead of once per host: a fleet-wide change to 1,000 hosts serialises a
 * handful of rulesets, not a thousand.
 */
const tails = new WeakMap<object, { json: string; escaped: string }>();

function tailOf(state: DesiredState): { json: string; escaped: string } {
  let t = tails.get(state.ruleset);
  if (!t || !t.json.startsWith(`"policies":${JSON.stringify(state.policies)},`)) {
    const json = `"policies":${JSON.stringify(state.policies)},"ruleset":${JSON.stringify(state.ruleset)},"jails":${JSON.stringify(state.jails)}}`;
    t = { json, escaped: JSON.stringify(json).slice(1, -1) };
    tails.set(state.ruleset, t);
  }
  return t;
}

/**
 * The signed envelope of a desired state, as the text stored in the bucket. Equal to
 * `JSON.stringify(signPayload(key, JSON.stringify(state)))` up to key order, at a fraction of the
 * cost for hosts that share a ruleset.
 */
export function signedDesiredText(key: SigningKey, state: DesiredState): string {
  const tail = tailOf(state);
  const head = `{"schemaVersion":${JSON.stringify(state.schemaVersion)},"hostId":${JSON.stringify(state.hostId)},"revision":${state.revision},"hash":${JSON.stringify(state.hash)},`;
  const payload = head + tail.json;
  const env = signPayload(key, payload);
  return `{"schemaVersion":${env.schemaVersion},"keyId":${JSON.stringify(env.keyId)},"signature":${JSON.stringify(env.signature)},"publicKey":${JSON.stringify(env.publicKey)},"payload":"${JSON.stringify(head).slice(1, -1)}${tail.escaped}"}`;
}
