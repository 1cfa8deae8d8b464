import { z } from "zod";
import { ReasonText } from "./banlist.js";
import { busJsonOrUndefined } from "./bus-json.js";
import { MAX_DURATION_SECONDS } from "./duration.js";
import { HostId, SCHEMA_VERSION } from "./messages.js";
import { isCidr } from "./net.js";

// The ban messages: what agents signal, what the controller decides and seals, and the requests of
// `fleetwall bans`.

const V1 = z.literal(SCHEMA_VERSION);

/** A local detection, sent by the agent to the signals stream; the controller's arbiter decides. */
export const BanSignal = z.object({
  schemaVersion: V1,
  hostId: HostId,
  /** A jail's name (as in policies: it becomes part of a bucket key). */
  jail: z.string().max(32).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/),
  /** The offending address, canonical (no prefix). */
  address: z.string().max(64).refine(isCidr),
  failures: z.number().int().min(1).max(1_000_000),
  at: z.string().max(40),
  banSeconds: z.number().int().min(1).max(10 * 365 * 86400),
  increment: z.object({ factor: z.number().min(1).max(100), maxSeconds: z.number().int().min(1).max(10 * 365 * 86400) }).optional(),
});
export type BanSignal = z.infer<typeof BanSignal>;

/** One ban or allow decision, one key per list and address in the bans bucket (signed envelope). */
export const BanDecision = z.object({
  schemaVersion: V1,
  list: z.string(),
  type: z.enum(["Deny", "Allow"]),
  /** Canonical address or CIDR. */
  cidr: z.string(),
  reason: z.string().default(""),
  scenario: z.string().default(""),
  origins: z.array(z.string()).default([]),
  createdAt: z.string(),
  /** When the decision stops holding; null for never. */
  expiresAt: z.string().nullable(),
  offences: z.number().int().min(1).default(1),
  /**
   * When the controller signed it (RFC 3339). An agent refuses a decision the bucket stored much
   * later than this: an old envelope put back (a lifted or superseded ban replayed).
   */
  issuedAt: z.string().optional(),
  /** What made it: a jail's signals (arbiter), a BanList resource, or an operator's command. */
  source: z.enum(["jail", "BanList", "cli"]).default("jail"),
  /** Hosts the decision applies to; every host when absent. */
  hostSelector: z
    .object({
      matchLabels: z.record(z.string(), z.string()).optional(),
      matchExpressions: z.array(z.object({ key: z.string(), operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]), values: z.array(z.string()).optional() })).optional(),
    })
    .optional(),
});
export type BanDecision = z.infer<typeof BanDecision>;

/** A decision from its payload text; undefined when that is not JSON or not a decision of a known schemaVersion. */
export function parseBanDecision(payload: string): BanDecision | undefined {
  const d = BanDecision.safeParse(busJsonOrUndefined(payload, "envelope"));
  return d.success ? d.data : undefined;
}

/** The bans-bucket key of a decision: list, then the address with ':' and '/' made key-safe. */
export function banKey(list: string, cidr: string): string {
  return `${list}.${cidr.replace(/[:/]/g, "_")}`;
}

/** A key the bans bucket can store (nats.js's rule for KV keys): one that is not can never be put, however often it is tried. */
export function isBanKey(key: string): boolean {
  return /^[-/=.\w]+$/.test(key) && !key.startsWith(".") && !key.endsWith(".") && key.length <= 256;
}

/** `fleetwall bans add`: a request to the controller, which applies the same protections as to jails. */
export const BanAddRequest = z.object({
  cidr: z.string(),
  durationSeconds: z.number().int().min(1).max(MAX_DURATION_SECONDS).nullable(),
  reason: ReasonText.default(""),
});
export const BanDeleteRequest = z.object({ cidr: z.string() });
/** One chunk of `fleetwall bans import`: many entries of one list (a chunk stays far below NATS' payload limit). */
export const BanImportRequest = z.object({
  list: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/),
  durationSeconds: z.number().int().min(1).max(MAX_DURATION_SECONDS).nullable(),
  reason: ReasonText.default(""),
  entries: z.array(z.string()).max(10_000),
});
export const BanReply = z.object({
  ok: z.boolean(),
  error: z.string().optional(),
  keys: z.array(z.string()).default([]),
  /** For imports: how many entries were published, and the ones refused with why. */
  published: z.number().int().optional(),
  refused: z.array(z.object({ cidr: z.string(), reason: z.string() })).optional(),
  /** For deletes: the hosts that lifted a local ban of the address (and the jail that made it). */
  lifted: z.array(z.object({ host: z.string(), jail: z.string() })).optional(),
  /** For deletes: hosts told to lift a local ban that did not confirm in time. */
  unconfirmed: z.array(z.string()).optional(),
});
export type BanReply = z.infer<typeof BanReply>;

/** A signed list of payload hashes, stored under `_seal.<id>` in the bans bucket before the decisions it covers. */
export const BanSeal = z.object({
  schemaVersion: V1,
  id: z.string().regex(/^[a-z0-9-]+$/),
  /** sha256 (hex) of each covered payload. */
  hashes: z.array(z.string()).max(10_000),
});
export type BanSeal = z.infer<typeof BanSeal>;
export const SEAL_KEY_PREFIX = "_seal.";
export const sealKey = (id: string): string => `${SEAL_KEY_PREFIX}${id}`;
