import { createHash, type Hash } from "node:crypto";
import { SCHEMA_VERSION, framedEnvelopeText, signDigest, type DesiredState, type SigningKey } from "@fleetwall/api";
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
 * tens of kilobytes, and the same jails. The payload puts that shared part first, so its JSON and
 * the sha256 state after hashing it are made once per distinct state: a fleet-wide change to 1,000
 * hosts serialises and hashes a handful of rulesets, and each host adds only its own few fields.
 */
interface SharedPart {
  policies: string;
  json: string;
  hashed: Hash;
}

const shared = new WeakMap<object, SharedPart>();

function sharedPartOf(state: DesiredState): SharedPart {
  const policies = JSON.stringify(state.policies);
  let part = shared.get(state.ruleset);
  if (!part || part.policies !== policies) {
    const json = `{"policies":${policies},"ruleset":${JSON.stringify(state.ruleset)},"jails":${JSON.stringify(state.jails)},`;
    part = { policies, json, hashed: createHash("sha256").update(json) };
    shared.set(state.ruleset, part);
  }
  return part;
}

/**
 * The signed envelope of a desired state, as the text stored in the bucket: framed (the envelope's
 * fields, a newline, the state's JSON as the payload; see envelope-text.ts) and signed over the
 * payload's sha256 (`digest: "sha256"`). Ed25519 over the whole text would hash it twice per host;
 * this hashes the shared part once per distinct state.
 */
export function signedDesiredText(key: SigningKey, state: DesiredState): string {
  const part = sharedPartOf(state);
  const own = `"schemaVersion":${JSON.stringify(state.schemaVersion)},"hostId":${JSON.stringify(state.hostId)},"revision":${state.revision},"hash":${JSON.stringify(state.hash)}}`;
  const signature = signDigest(key, part.hashed.copy().update(own).digest("hex"));
  return framedEnvelopeText({ schemaVersion: SCHEMA_VERSION, keyId: key.keyId, digest: "sha256", signature, publicKey: key.publicKeyPem }, part.json + own);
}
