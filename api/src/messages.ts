import { z } from "zod";
import { LabelMap } from "./meta.js";
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
  /**
   * "deflate-raw": in the bucket, the payload after the head line is its raw deflate (RFC 1951), not
   * its text (desired-wire.ts); the signature still covers the text. Readers inflate it, bounded.
   */
  encoding: z.literal("deflate-raw").optional(),
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
  /** The addresses the host registered. */
  addresses: z.array(z.string()).optional(),
  /**
   * Registered addresses the controller does not take as the host's own (outside the host
   * networks, networks, past the cap), with why: they are not protected (absent when none).
   */
  refusedAddresses: z.array(z.object({ address: z.string(), reason: z.string() })).optional(),
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
  /**
   * Why `bans` is Unknown: the host is stale, it has not reported its bans yet (just started), or it
   * is still reading the bans bucket since it started (its kernel holds what it had).
   */
  bansUnknown: z.enum(["Stale", "NotReported", "Loading"]).optional(),
  /**
   * The host's newest desired state is not in its key (it keeps the one there): too large for the
   * bus (`TooLarge`, with the sizes and the limit in bytes) or a put that failed (`PublishFailed`).
   */
  unpublished: z
    .object({
      reason: z.enum(["TooLarge", "PublishFailed"]),
      message: z.string(),
      revision: z.number().int(),
      textBytes: z.number().int().optional(),
      wireBytes: z.number().int().optional(),
      limit: z.number().int().optional(),
    })
    .optional(),
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
  /** Selected hosts whose newest desired state could not be published (HostStatusRow.unpublished says why). */
  unpublishedHosts: z.number().int().optional(),
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
