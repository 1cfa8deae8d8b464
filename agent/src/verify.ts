import { BanDecision, BanSeal, DesiredState, keyIdOfPem, parseEnvelopeText, sha256Hex, verifyEnvelope, type SignedEnvelope } from "@fleetwall/api";

/** Parses the envelope of any signed message, framed or one JSON object; the reason says what is wrong with it. */
function parseEnvelope(data: string): { success: true; data: SignedEnvelope } | { success: false; ok: false; reason: string } {
  const env = parseEnvelopeText(data);
  return env.success ? env : { success: false, ok: false, reason: env.error };
}

export type Verified =
  | { ok: true; state: DesiredState; envelope: SignedEnvelope; publicKey: string }
  | { ok: false; reason: string };

/**
 * Checks one desired-state message: well-formed, signed by the trusted key (or, with none yet,
 * by the key it carries, which the caller then pins), for this host, and not older than what is
 * applied. Pure; never throws.
 */
export function verifyDesired(data: string, opts: { hostId: string; trustedKey: string | undefined; appliedRevision: number }): Verified {
  const env = parseEnvelope(data);
  if (!env.success) return env;
  const key = opts.trustedKey ?? env.data.publicKey;
  if (!key) return { ok: false, reason: "unsigned: no trusted key and none offered" };
  let keyId: string;
  try {
    keyId = keyIdOfPem(key);
  } catch {
    return { ok: false, reason: "offered public key does not parse" };
  }
  if (env.data.keyId !== keyId || !verifyEnvelope(env.data, key)) return { ok: false, reason: "bad signature" };
  let payload: unknown;
  try {
    payload = JSON.parse(env.data.payload);
  } catch {
    return { ok: false, reason: "payload is not JSON" };
  }
  const state = DesiredState.safeParse(payload);
  if (!state.success) return { ok: false, reason: "payload is not a desired state of a known schemaVersion" };
  if (state.data.hostId !== opts.hostId) return { ok: false, reason: `desired state is for host ${state.data.hostId}` };
  if (state.data.revision < opts.appliedRevision) {
    return { ok: false, reason: `replayed revision ${state.data.revision} < applied ${opts.appliedRevision}` };
  }
  return { ok: true, state: state.data, envelope: env.data, publicKey: key };
}

export type VerifiedDecision = { ok: true; decision: BanDecision; sealed?: { seal: string; hash: string } } | { ok: false; reason: string };

/** Checks one ban decision from the bans bucket: a signed envelope by the trusted key, of a known schema. Pure. */
export function verifyDecision(data: string, trustedKey: string | undefined, seals: ReadonlyMap<string, ReadonlySet<string>> = new Map()): VerifiedDecision {
  if (!trustedKey) return { ok: false, reason: "no trusted controller key yet" };
  const env = parseEnvelope(data);
  if (!env.success) return env;
  let sealed: { seal: string; hash: string } | undefined;
  if (env.data.seal !== undefined) {
    const hashes = seals.get(env.data.seal);
    if (!hashes) return { ok: false, reason: `unknown seal ${env.data.seal}` };
    const hash = sha256Hex(env.data.payload);
    if (!hashes.has(hash)) return { ok: false, reason: "payload not covered by its seal" };
    sealed = { seal: env.data.seal, hash };
  } else if (!verifyEnvelope(env.data, trustedKey)) return { ok: false, reason: "bad signature" };
  try {
    const d = BanDecision.safeParse(JSON.parse(env.data.payload));
    if (!d.success) return { ok: false, reason: "payload is not a ban decision of a known schemaVersion" };
    return sealed ? { ok: true, decision: d.data, sealed } : { ok: true, decision: d.data };
  } catch {
    return { ok: false, reason: "payload is not JSON" };
  }
}

export type VerifiedSeal = { ok: true; seal: BanSeal } | { ok: false; reason: string };

/** Checks a seal from the bans bucket: signed by the trusted key, of a known schema. Pure. */
export function verifySeal(data: string, trustedKey: string | undefined): VerifiedSeal {
  if (!trustedKey) return { ok: false, reason: "no trusted controller key yet" };
  const env = parseEnvelope(data);
  if (!env.success) return env;
  if (!verifyEnvelope(env.data, trustedKey)) return { ok: false, reason: "bad signature" };
  try {
    const seal = BanSeal.safeParse(JSON.parse(env.data.payload));
    return seal.success ? { ok: true, seal: seal.data } : { ok: false, reason: "payload is not a seal" };
  } catch {
    return { ok: false, reason: "not JSON" };
  }
}
