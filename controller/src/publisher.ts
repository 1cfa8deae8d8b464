import { createHash, type Hash } from "node:crypto";
import { SCHEMA_VERSION, framedEnvelopeText, signDigest, type DesiredState, type EnvelopeHead, type SigningKey } from "@fleetwall/api";
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
 * A big shared part is also deflated once (desired-wire.ts), kept here beside its text.
 */
export interface SharedPart {
  policies: string;
  json: string;
  /** Its length in UTF-8 bytes. */
  bytes: number;
  hashed: Hash;
  /** Its raw deflate, ending in a sync flush so each host's own part can follow (desired-wire.ts). */
  deflated?: Promise<Buffer>;
}

const shared = new WeakMap<object, SharedPart>();

function sharedPartOf(state: DesiredState): SharedPart {
  const policies = JSON.stringify(state.policies);
  let part = shared.get(state.ruleset);
  if (!part || part.policies !== policies) {
    const json = `{"policies":${policies},"ruleset":${JSON.stringify(state.ruleset)},"jails":${JSON.stringify(state.jails)},`;
    part = { policies, json, bytes: Buffer.byteLength(json), hashed: createHash("sha256").update(json) };
    shared.set(state.ruleset, part);
  }
  return part;
}

/** A signed desired state in pieces: the envelope's head, the part hosts share, and the host's own fields that end the payload. */
export interface SignedDesired {
  head: Omit<EnvelopeHead, "encoding">;
  shared: SharedPart;
  own: string;
}

/**
 * Signs a desired state over its payload's sha256 (`digest: "sha256"`). Ed25519 over the whole text
 * would hash it twice per host; this hashes the shared part once per distinct state.
 */
export function signDesired(key: SigningKey, state: DesiredState): SignedDesired {
  const part = sharedPartOf(state);
  const own = `"schemaVersion":${JSON.stringify(state.schemaVersion)},"hostId":${JSON.stringify(state.hostId)},"revision":${state.revision},"hash":${JSON.stringify(state.hash)}}`;
  const signature = signDigest(key, part.hashed.copy().update(own).digest("hex"));
  return { head: { schemaVersion: SCHEMA_VERSION, keyId: key.keyId, digest: "sha256", signature, publicKey: key.publicKeyPem }, shared: part, own };
}

/**
 * The signed envelope of a desired state as text: framed (the envelope's fields, a newline, the
 * state's JSON as the payload; see envelope-text.ts). The bucket gets `desiredBytes` (desired-wire.ts),
 * which is this text, or for a big state the same with the payload deflated.
 */
export function signedDesiredText(key: SigningKey, state: DesiredState): string {
  const s = signDesired(key, state);
  return framedEnvelopeText(s.head, s.shared.json + s.own);
}
