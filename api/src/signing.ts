import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { SCHEMA_VERSION, type SignedEnvelope } from "./messages.js";
import { sha256Hex } from "./canonical.js";

export interface SigningKey {
  keyId: string;
  privateKey: KeyObject;
  publicKeyPem: string;
}

/** Key id: the first 16 hex digits of sha256 over the SPKI DER of the public key. */
export function keyIdOf(publicKey: KeyObject): string {
  const der = publicKey.export({ type: "spki", format: "der" });
  return sha256Hex(der.toString("latin1")).slice(0, 16);
}

export function generateSigningKeyPem(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privatePem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
  };
}

export function loadSigningKey(privatePem: string): SigningKey {
  const privateKey = createPrivateKey(privatePem);
  const publicKey = createPublicKey(privateKey);
  return { keyId: keyIdOf(publicKey), privateKey, publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString() };
}

/**
 * What a digest-signed envelope's signature covers: a text that names the hash, so it can never be
 * mistaken for a payload (every payload is a JSON object) and a signature over one is never valid
 * for the other.
 */
export function digestMessage(sha256HexOfPayload: string): Buffer {
  return Buffer.from(`fleetwall-payload-sha256:${sha256HexOfPayload}`);
}

/** The base64 Ed25519 signature for a payload whose sha256 is `sha256HexOfPayload` (`digest: "sha256"`). */
export function signDigest(key: SigningKey, sha256HexOfPayload: string): string {
  return sign(null, digestMessage(sha256HexOfPayload), key.privateKey).toString("base64");
}

export function signPayload(key: SigningKey, payload: string): SignedEnvelope {
  const signature = sign(null, Buffer.from(payload), key.privateKey).toString("base64");
  return { schemaVersion: SCHEMA_VERSION, keyId: key.keyId, payload, signature, publicKey: key.publicKeyPem };
}

// Parsing a PEM costs more than verifying a signature: keep the few keys a process ever sees.
const publicKeys = new Map<string, { key: KeyObject; id: string }>();

function publicKeyOf(pem: string): { key: KeyObject; id: string } {
  let entry = publicKeys.get(pem);
  if (!entry) {
    const key = createPublicKey(pem);
    entry = { key, id: keyIdOf(key) };
    if (publicKeys.size > 16) publicKeys.clear();
    publicKeys.set(pem, entry);
  }
  return entry;
}

export function keyIdOfPem(publicKeyPem: string): string {
  return publicKeyOf(publicKeyPem).id;
}

/** True when `envelope` was signed by the holder of `publicKeyPem`, over its payload or the payload's sha256. */
export function verifyEnvelope(envelope: SignedEnvelope, publicKeyPem: string): boolean {
  try {
    const message = envelope.digest === "sha256" ? digestMessage(sha256Hex(envelope.payload)) : Buffer.from(envelope.payload);
    return verify(null, message, publicKeyOf(publicKeyPem).key, Buffer.from(envelope.signature, "base64"));
  } catch {
    return false;
  }
}

/**
 * Signs many payloads with one signature: a seal listing their sha256, and for each payload an
 * envelope that names the seal instead of carrying a signature of its own.
 */
export function sealPayloads(key: SigningKey, id: string, payloads: readonly string[]): { seal: SignedEnvelope; envelopes: SignedEnvelope[] } {
  const hashes = payloads.map((p) => sha256Hex(p));
  const seal = signPayload(key, JSON.stringify({ schemaVersion: SCHEMA_VERSION, id, hashes }));
  const envelopes = payloads.map((payload): SignedEnvelope => ({ schemaVersion: SCHEMA_VERSION, keyId: key.keyId, payload, signature: "", seal: id }));
  return { seal, envelopes };
}
