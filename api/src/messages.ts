import { z } from "zod";
import { LabelMap } from "./meta.js";
import { ReasonText } from "./banlist.js";
import { isCidr } from "./net.js";
import { RulesetIR } from "./ruleset.js";
import { HOST_ID_PATTERN, HOST_ID_RULE, hostIdFromNodeName } from "./subjects.js";

export const SCHEMA_VERSION = 1;
const V1 = z.literal(SCHEMA_VERSION);

export const HostId = z.string().superRefine((id, ctx) => {
  if (HOST_ID_PATTERN.test(id)) return;
  const suggestion = hostIdFromNodeName(id);
  ctx.addIssue({ code: "custom", message: `host id ${JSON.stringify(id)} must be ${HOST_ID_RULE}${suggestion ? `; did you mean ${suggestion}? (the agent's --host-id-from-node derives it from a node name)` : ""}` });
});

/** What an agent writes under its own key in the hosts bucket when it starts. */
export const HostRegistration = z.object({
  schemaVersion: V1,
  hostId: HostId,
  labels: LabelMap,
  /** The host's own addresses (single addresses; the controller never bans them). */
  addresses: z.array(z.string()).max(256),
  /** Networks the host is managed from (the agent's --ssh-source): never banned by a jail's detection. */
  managementSources: z.array(z.string()).max(64).optional(),
  agentVersion: z.string(),
  nftVersion: z.string(),
  startedAt: z.string(),
});
export type HostRegistration = z.infer<typeof HostRegistration>;

/** The compiled desired state of one host, the payload of a signed envelope. */
export const DesiredState = z.object({
  schemaVersion: V1,
  hostId: HostId,
  revision: z.number().int().min(1),
  /** sha256 of the canonical JSON of `policies` and `ruleset`. */
  hash: z.string(),
  policies: z.array(z.object({ name: z.string(), generation: z.number().int() })),
  ruleset: RulesetIR,
  jails: z.array(z.lazy(() => JailIR)).default([]),
});
export type DesiredState = z.infer<typeof DesiredState>;

/** Signed wrapper: `payload` is the exact JSON text that was signed (Ed25519, base64 signature), or whose sha256 was. */
export const SignedEnvelope = z.object({
  schemaVersion: V1,
  keyId: z.string(),
  payload: z.string(),
  signature: z.string(),
  /** The signer's public key (SPKI PEM), for agents that pin the first key they see. */
  publicKey: z.string().optional(),
  /**
   * Instead of its own signature (then empty), the payload's sha256 is listed in this signed seal
   * (bulk publishing: one signature for thousands of decisions).
   */
  seal: z.string().optional(),
  /**
   * "sha256": the signature is over the payload's sha256 (see signing.ts `digestMessage`), not over
   * the payload itself. Large payloads are signed this way: hashing once is cheaper than Ed25519's
   * two passes over the text, and hosts that share most of a state share most of the hashing.
   */
  digest: z.literal("sha256").optional(),
});
export type SignedEnvelope = z.infer<typeof SignedEnvelope>;

export const ReportState = z.enum(["Applied", "Failed", "Pending"]);

/** Most local bans a report lists (the rest are counted). */
export const REPORT_LOCAL_BANS_LIMIT = 1_000;

/** A ban this host's own jail made (share: Local, or before the fleet decided). */
export const LocalBanReport = z.object({ jail: z.string(), address: z.string(), expiresAt: z.number().int() }).strict();
export type LocalBanReport = z.infer<typeof LocalBanReport>;

/**
 * What a host believes it enforces of the fleet's ban decisions, as a digest (api/ban-digest.ts) at
 * an epoch start, what nft refused, and its own local bans.
 */
export const HostBanTruth = z
  .object({
    /** The epoch start (ms) the count and digest are for. */
    epoch: z.number().int().min(0),
    /** The agent has not read the bucket to its end since it started: its kernel still holds what it had before. */
    loading: z.boolean().default(false),
    count: z.number().int().min(0),
    digest: z.string().regex(/^[0-9a-f]{16}$/),
    refused: z.array(z.object({ element: z.string(), error: z.string() }).strict()).max(20).default([]),
    refusedTotal: z.number().int().min(0).default(0),
    local: z.array(LocalBanReport).max(REPORT_LOCAL_BANS_LIMIT).default([]),
    localTotal: z.number().int().min(0).default(0),
  })
  .strict();
export type HostBanTruth = z.infer<typeof HostBanTruth>;

/** What an agent publishes on change and as a heartbeat. */
export const HostReport = z.object({
  schemaVersion: V1,
  hostId: HostId,
  at: z.string(),
  state: ReportState,
  /** Highest desired revision the agent has seen (verified). */
  desiredRevision: z.number().int().min(0),
  appliedRevision: z.number().int().min(0),
  /** Hash of the desired state applied (matches DesiredState.hash). */
  appliedHash: z.string().optional(),
  /** sha256 of the nft script the agent loaded, failsafe rules included. */
  rulesetHash: z.string().optional(),
  error: z.string().optional(),
  driftRepairs: z.number().int().min(0),
  droppedMessages: z.number().int().min(0),
  /** Packets counted by audit-mode policies' would-drop rules, by policy name. */
  auditDrops: z.record(z.string(), z.number().int()).default({}),
  activeBans: z.number().int().min(0).default(0),
  /** The agent's heartbeat interval: a host silent for several of them is stale. */
  heartbeatMs: z.number().int().min(1).optional(),
  bans: HostBanTruth.optional(),
});
export type HostReport = z.infer<typeof HostReport>;

/** Whether what a host reports of its bans matches the decisions it should hold. */
export const BansState = z.enum(["InSync", "Differ", "Refused", "Unknown"]);
export type BansState = z.infer<typeof BansState>;

export const HostStatusRow = z.object({
  id: z.string(),
  labels: LabelMap,
  desiredRevision: z.number().int(),
  appliedRevision: z.number().int(),
  inSync: z.boolean(),
  lastSeen: z.string().nullable(),
  error: z.string().nullable(),
  /** Bans in force on the host, as the agent last reported. */
  activeBans: z.number().int().default(0),
  /** Foreign changes to the host's table that the agent repaired. */
  driftRepairs: z.number().int().default(0),
  /** sha256 of the nft script the agent loaded, as it last reported. */
  rulesetHash: z.string().optional(),
  /** Packets audit-mode policies would have dropped, by policy, as the agent last reported. */
  auditDrops: z.record(z.string(), z.number().int()).default({}),
  /** The agent missed several heartbeats: nothing it reported can be taken as current. */
  stale: z.boolean().default(false),
  /** Whether the bans it reports match the decisions it should hold. */
  bans: BansState.default("Unknown"),
});
/** One host's bans: what it reports it holds against what it should, and its own local bans. */
export const HostBansRow = z.object({
  id: z.string(),
  stale: z.boolean(),
  state: BansState,
  /** The epoch both counts are for (ms); 0 when the host has not reported its bans. */
  epoch: z.number().int(),
  count: z.number().int(),
  digest: z.string(),
  expectedCount: z.number().int(),
  expectedDigest: z.string(),
  refused: z.array(z.object({ element: z.string(), error: z.string() })).default([]),
  refusedTotal: z.number().int().default(0),
  local: z.array(LocalBanReport).default([]),
  localTotal: z.number().int().default(0),
});
export type HostBansRow = z.infer<typeof HostBansRow>;
export const HostBansReply = z.object({ hosts: z.array(HostBansRow) });
export type HostBansReply = z.infer<typeof HostBansReply>;

/** `fleetwall hosts delete`: a host that still reports is refused unless `force`. */
export const HostDeleteRequest = z.object({ hostId: HostId, force: z.boolean().default(false) }).strict();
export const HostDeleteReply = z.object({ ok: z.boolean(), error: z.string().optional(), removed: z.array(z.string()).default([]) });

/** The payload of a signed order to one agent to lift its own local ban of `address`. */
export const LiftLocalBan = z
  .object({ schemaVersion: V1, hostId: HostId, address: z.string(), at: z.string() })
  .strict();
export type LiftLocalBan = z.infer<typeof LiftLocalBan>;

export const PolicyStatusRow = z.object({
  name: z.string(),
  selectedHosts: z.number().int(),
  appliedHosts: z.number().int(),
  failedHosts: z.number().int(),
  error: z.string().nullable().optional(),
  warnings: z.array(z.string()).default([]),
});
export const BanListStatusRow = z.object({
  name: z.string(),
  type: z.enum(["Deny", "Allow"]),
  /** Entries in the resource. */
  entries: z.number().int(),
  /** Entries published and not expired. */
  active: z.number().int(),
  /** Hosts the list selects that report in sync. */
  hostsEnforcing: z.number().int(),
  /** Entries the controller refused to publish, with why (absent when none). */
  refused: z.array(z.object({ cidr: z.string(), reason: z.string() })).optional(),
  /** Why the last sync failed to publish, when it did. */
  error: z.string().optional(),
  /** Why the list's current version is refused by validation, the field named (its last valid version, if any, stays in force). */
  invalid: z.string().optional(),
});
export const FleetStatus = z.object({
  hosts: z.array(HostStatusRow),
  policies: z.array(PolicyStatusRow),
  banLists: z.array(BanListStatusRow).default([]),
});
export type FleetStatus = z.infer<typeof FleetStatus>;

/** A jail as the agent runs it: durations in seconds, filter resolved by the agent. */
export const JailIR = z.object({
  name: z.string(),
  filter: z.string().optional(),
  failRegex: z.array(z.string()).default([]),
  prefRegex: z.string().optional(),
  ignoreRegex: z.array(z.string()).optional(),
  datePattern: z.string().optional(),
  maxLines: z.number().int().optional(),
  source: z.union([z.object({ file: z.string() }), z.object({ journal: z.object({ unit: z.string().optional(), identifier: z.string().optional() }) })]),
  maxRetry: z.number().int(),
  findTimeSeconds: z.number().int(),
  banTimeSeconds: z.number().int(),
  increment: z.object({ factor: z.number(), maxSeconds: z.number().int() }).optional(),
  ignore: z.array(z.string()),
  share: z.enum(["Fleet", "Local"]),
});
export type JailIR = z.infer<typeof JailIR>;

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
  try {
    const d = BanDecision.safeParse(JSON.parse(payload));
    return d.success ? d.data : undefined;
  } catch {
    return undefined;
  }
}

/** The bans-bucket key of a decision: list, then the address with ':' and '/' made key-safe. */
export function banKey(list: string, cidr: string): string {
  return `${list}.${cidr.replace(/[:/]/g, "_")}`;
}

/** `fleetwall bans add`: a request to the controller, which applies the same protections as to jails. */
export const BanAddRequest = z.object({
  cidr: z.string(),
  durationSeconds: z.number().int().min(1).nullable(),
  reason: ReasonText.default(""),
});
export const BanDeleteRequest = z.object({ cidr: z.string() });
/** One chunk of `fleetwall bans import`: many entries of one list (a chunk stays far below NATS' payload limit). */
export const BanImportRequest = z.object({
  list: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/),
  durationSeconds: z.number().int().min(1).nullable(),
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
