import {
  DesiredState,
  MAX_INFLATED_BYTES,
  HostRegistration,
  SEAL_KEY_PREFIX,
  busJsonOrUndefined,
  parseBusJson,
  parseBanDecision,
  parseEnvelopeBytes,
  parseEnvelopeText,
  type BanDecision,
  type BusMessageKind,
} from "@fleetwall/api";
import type { Published } from "./publisher.js";
import { PublishError } from "./acked-publisher.js";

/**
 * What the controller's bus reads from and writes to NATS, as bytes: KV subjects, and the values of
 * the desired, hosts and bans buckets decoded (or refused). Pure; bus.ts and bucket-watch.ts use it.
 */

const dec = new TextDecoder();

/** A schema as zod's safeParse shapes it. */
export interface SafeParser<T> {
  safeParse(v: unknown): { success: true; data: T } | { success: false };
}

const KV_KEY = /^[-/_=a-zA-Z0-9]+(?:\.[-/_=a-zA-Z0-9]+)*$/;

/** The subject a KV put of `key` is published to; keys as the KV API accepts them (no wildcards, no empty tokens). */
export function kvSubject(bucket: string, key: string): string {
  if (!KV_KEY.test(key)) throw new PublishError(`invalid key ${JSON.stringify(key)} for bucket ${bucket}`);
  return `$KV.${bucket}.${key}`;
}

/**
 * JSON bytes checked against `schema`; undefined for bytes that are not JSON, do not match, or are
 * larger or deeper than a message of `kind` may be (refused before parsing, api/bus-json.ts).
 */
export function safeJson<T>(data: Uint8Array, schema: SafeParser<T>, kind: BusMessageKind): T | undefined {
  const json = parseBusJson(data, kind);
  if (!json.ok) return undefined;
  const r = schema.safeParse(json.value);
  return r.success ? r.data : undefined;
}

/** The payload of a signed envelope (deflated or not), as JSON; undefined when either does not parse. */
function envelopePayload(data: Uint8Array): unknown {
  const env = parseEnvelopeBytes(data);
  // a desired state may be as large as inflation allows (big policies), not one bus message
  return env.success ? busJsonOrUndefined(env.data.payload, MAX_INFLATED_BYTES) : undefined;
}

/** A stored desired state, schema-checked. */
export function decodeDesired(data: Uint8Array): DesiredState | undefined {
  const r = DesiredState.safeParse(envelopePayload(data));
  return r.success ? r.data : undefined;
}

/** The revision and hash a desired-state value names (no schema check: only to compare with what was put). */
export function publishedOf(data: Uint8Array): Published | undefined {
  const state = envelopePayload(data) as { revision?: unknown; hash?: unknown } | undefined;
  return typeof state?.revision === "number" && typeof state.hash === "string" ? { revision: state.revision, hash: state.hash } : undefined;
}

/** One entry of the hosts bucket: a registration, a host gone, or a value to drop. */
export type HostEntry = { kind: "registration"; reg: HostRegistration } | { kind: "deleted" } | { kind: "invalid" };

/** A registration counts only under its own host's key. */
export function decodeHostEntry(key: string, operation: string, value: Uint8Array): HostEntry {
  if (operation !== "PUT") return { kind: "deleted" };
  const reg = safeJson(value, HostRegistration, "registration");
  return reg && reg.hostId === key ? { kind: "registration", reg } : { kind: "invalid" };
}

/** One entry of the bans bucket: a seal (present or removed), a decision, a decision removed, or a value to drop. */
export type BanEntry =
  | { kind: "seal"; id: string; present: boolean }
  | { kind: "decision"; decision: BanDecision; seal: string | undefined }
  | { kind: "deleted" }
  | { kind: "invalid" };

export function decodeBanEntry(key: string, operation: string, value: Uint8Array): BanEntry {
  if (key.startsWith(SEAL_KEY_PREFIX)) return { kind: "seal", id: key.slice(SEAL_KEY_PREFIX.length), present: operation === "PUT" };
  if (operation !== "PUT") return { kind: "deleted" };
  const env = parseEnvelopeText(dec.decode(value));
  const decision = env.success ? parseBanDecision(env.data.payload) : undefined;
  return decision && env.success ? { kind: "decision", decision, seal: env.data.seal } : { kind: "invalid" };
}
