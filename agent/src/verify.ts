import { BanDecision, BanSeal, MAX_INFLATED_BYTES, parseBusJson, replayedDecision, DesiredState, keyIdOfPem, openEnvelopeBytes, parseEnvelopeHead, parseEnvelopeText, sha256Hex, verifyEnvelope, type EnvelopeHead, type SignedEnvelope } from "@fleetwall/api";

/** Parses the envelope of any signed message, framed or one JSON object; the reason says what is wrong with it. */
function parseEnvelope(data: string): { success: true; data: SignedEnvelope } | { success: false; ok: false; reason: string } {
  const env = parseEnvelopeText(data);
  return env.success ? env : { success: false, ok: false, reason: env.error };
}

export type Verified =
  /** `text`: the envelope as text, its payload inflated if it came deflated (what the agent saves). */
  | { ok: true; state: DesiredState; envelope: SignedEnvelope; publicKey: string; text: string }
  /** `older`: validly signed, but a revision below the applied one (overtaken, or replayed). `inflatesPast`: a zip bomb. */
  | { ok: false; reason: string; older?: true; inflatesPast?: number };

/**
 * Checks one desired-state message: well-formed, signed by the trusted key (or, with none yet,
 * by the key it carries, which the caller then pins), for this host, and newer than what is
 * applied: a revision above the applied one, or the applied revision with the applied hash (the same
 * state again, as a restart reads it back). The applied revision with another hash is refused: one
 * revision names one state, and two signed states under one number mean a second writer. Pure;
 * never throws.
 */
export function verifyDesired(bytes: string | Uint8Array, opts: { hostId: string; trustedKey: string | undefined; appliedRevision: number; appliedHash?: string | undefined; maxBytes?: number }): Verified {
  // a deflated payload is inflated first, bounded: a value that inflates past the bound is refused unread
  const opened = typeof bytes === "string" ? { ok: true as const, text: bytes } : openEnvelopeBytes(bytes, opts.maxBytes);
  if (!opened.ok) return opened;
  const data = opened.text;
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
  // a desired state may be as large as what inflation allows (big policies), not one bus message
  const json = parseBusJson(env.data.payload, opts.maxBytes ?? MAX_INFLATED_BYTES);
  if (!json.ok) return { ok: false, reason: `payload ${json.reason === "not JSON" ? "is not JSON" : `is ${json.reason}`}` };
  const payload = json.value;
  const state = DesiredState.safeParse(payload);
  if (!state.success) return { ok: false, reason: "payload is not a desired state of a known schemaVersion" };
  if (state.data.hostId !== opts.hostId) return { ok: false, reason: `desired state is for host ${state.data.hostId}` };
  if (state.data.revision < opts.appliedRevision) {
    return { ok: false, reason: `replayed revision ${state.data.revision} < applied ${opts.appliedRevision}`, older: true };
  }
  if (state.data.revision === opts.appliedRevision && opts.appliedHash !== undefined && state.data.hash !== opts.appliedHash) {
    return { ok: false, reason: `revision ${state.data.revision} is applied with another hash: two states under one revision (a second writer?)` };
  }
  return { ok: true, state: state.data, envelope: env.data, publicKey: key, text: data };
}

export type VerifiedDecision = { ok: true; decision: BanDecision; sealed?: { seal: string; hash: string } } | { ok: false; reason: string };

/** Checks one ban decision from the bans bucket: a signed envelope by the trusted key, of a known schema. Pure. */
export function verifyDecision(data: string, trustedKey: string | undefined, seals: ReadonlyMap<string, ReadonlySet<string>> = new Map()): VerifiedDecision {
  if (!trustedKey) return { ok: false, reason: "no trusted controller key yet" };
  const env = parseEnvelope(data);
  if (!env.success) return env;
  if (env.data.seal !== undefined) return sealed(sealCovers(env.data.seal, env.data.payload, seals), env.data.payload);
  if (!verifyEnvelope(env.data, trustedKey)) return { ok: false, reason: "bad signature" };
  return decisionOf(env.data.payload);
}

const dec = new TextDecoder();

/**
 * Reads ban decisions from their bytes as the bucket delivers them, with what `verifyDecision`
 * checks. A framed decision under a seal (a bulk load's, by the million) takes the short way: its
 * head is the same as the one before it, so it is parsed once per seal, not once per decision, and
 * the payload's bytes are hashed as they came, with no JSON pass over the envelope. Anything else
 * goes the general way.
 */
export class DecisionReader {
  /** The last head line read, as bytes, and what it parsed to. */
  #line = new Uint8Array(0);
  #head: EnvelopeHead | undefined;

  /**
   * `storedAtMs`: when the bucket stored the entry (a catch-up's entries carry it; a live one is
   * stored as it arrives). A decision stored long after it was signed is refused as a replay.
   */
  read(data: Uint8Array, trustedKey: string | undefined, seals: ReadonlyMap<string, ReadonlySet<string>>, storedAtMs?: number): VerifiedDecision {
    return notReplayed(this.#read(data, trustedKey, seals), storedAtMs);
  }

  #read(data: Uint8Array, trustedKey: string | undefined, seals: ReadonlyMap<string, ReadonlySet<string>>): VerifiedDecision {
    if (!trustedKey) return { ok: false, reason: "no trusted controller key yet" };
    const newline = data.indexOf(10);
    const head = newline > 0 ? this.#headOf(data, newline) : undefined;
    if (head?.seal === undefined) return verifyDecision(dec.decode(data), trustedKey, seals);
    const payload = data.subarray(newline + 1);
    const covered = sealCovers(head.seal, payload, seals);
    return covered.ok ? sealed(covered, dec.decode(payload)) : covered;
  }

  /** The head in `data`'s first `length` bytes; compared byte by byte with the last, not decoded again. */
  #headOf(data: Uint8Array, length: number): EnvelopeHead | undefined {
    if (!startsWith(data, this.#line, length)) {
      this.#line = data.slice(0, length);
      const head = parseEnvelopeHead(dec.decode(this.#line));
      this.#head = head.success ? head.data : undefined;
    }
    return this.#head;
  }
}

function notReplayed(v: VerifiedDecision, storedAtMs: number | undefined): VerifiedDecision {
  if (!v.ok) return v;
  const replay = replayedDecision(v.decision, storedAtMs);
  return replay ? { ok: false, reason: replay } : v;
}

function startsWith(data: Uint8Array, line: Uint8Array, length: number): boolean {
  if (line.length !== length) return false;
  for (let i = 0; i < length; i += 1) if (data[i] !== line[i]) return false;
  return true;
}

/** A payload under a seal: its sha256 (of the bytes as signed) must be one the seal lists. */
function sealCovers(seal: string, signed: string | Uint8Array, seals: ReadonlyMap<string, ReadonlySet<string>>): { ok: true; seal: string; hash: string } | { ok: false; reason: string } {
  const hashes = seals.get(seal);
  if (!hashes) return { ok: false, reason: `unknown seal ${seal}` };
  const hash = sha256Hex(signed);
  return hashes.has(hash) ? { ok: true, seal, hash } : { ok: false, reason: "payload not covered by its seal" };
}

function sealed(covered: ReturnType<typeof sealCovers>, payload: string): VerifiedDecision {
  if (!covered.ok) return covered;
  const d = decisionOf(payload);
  return d.ok ? { ok: true, decision: d.decision, sealed: { seal: covered.seal, hash: covered.hash } } : d;
}

function decisionOf(payload: string): VerifiedDecision {
  const json = parseBusJson(payload, "envelope");
  if (!json.ok) return { ok: false, reason: `payload ${json.reason === "not JSON" ? "is not JSON" : `is ${json.reason}`}` };
  const d = BanDecision.safeParse(json.value);
  return d.success ? { ok: true, decision: d.data } : { ok: false, reason: "payload is not a ban decision of a known schemaVersion" };
}

export type VerifiedSeal = { ok: true; seal: BanSeal } | { ok: false; reason: string };

/** Checks a seal from the bans bucket: signed by the trusted key, of a known schema. Pure. */
export function verifySeal(data: string, trustedKey: string | undefined): VerifiedSeal {
  if (!trustedKey) return { ok: false, reason: "no trusted controller key yet" };
  const env = parseEnvelope(data);
  if (!env.success) return env;
  if (!verifyEnvelope(env.data, trustedKey)) return { ok: false, reason: "bad signature" };
  const json = parseBusJson(env.data.payload, "envelope");
  if (!json.ok) return { ok: false, reason: json.reason };
  const seal = BanSeal.safeParse(json.value);
  return seal.success ? { ok: true, seal: seal.data } : { ok: false, reason: "payload is not a seal" };
}
