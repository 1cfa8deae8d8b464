import { z } from "zod";
import { LabelMap } from "./meta.js";
import { RulesetIR } from "./ruleset.js";
import { HOST_ID_PATTERN } from "./subjects.js";

export const SCHEMA_VERSION = 1;
const V1 = z.literal(SCHEMA_VERSION);

export const HostId = z.string().regex(HOST_ID_PATTERN, "host id must be lowercase letters, digits, '-' or '_' (at most 63)");

/** What an agent writes under its own key in the hosts bucket when it starts. */
export const HostRegistration = z.object({
  schemaVersion: V1,
  hostId: HostId,
  labels: LabelMap,
  addresses: z.array(z.string()),
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
});
export type DesiredState = z.infer<typeof DesiredState>;

/** Signed wrapper: `payload` is the exact JSON text that was signed (Ed25519, base64 signature). */
export const SignedEnvelope = z.object({
  schemaVersion: V1,
  keyId: z.string(),
  payload: z.string(),
  signature: z.string(),
  /** The signer's public key (SPKI PEM), for agents that pin the first key they see. */
  publicKey: z.string().optional(),
});
export type SignedEnvelope = z.infer<typeof SignedEnvelope>;

export const ReportState = z.enum(["Applied", "Failed", "Pending"]);

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
});
export type HostReport = z.infer<typeof HostReport>;

export const HostStatusRow = z.object({
  id: z.string(),
  labels: LabelMap,
  desiredRevision: z.number().int(),
  appliedRevision: z.number().int(),
  inSync: z.boolean(),
  lastSeen: z.string().nullable(),
  error: z.string().nullable(),
  /** Packets audit-mode policies would have dropped, by policy, as the agent last reported. */
  auditDrops: z.record(z.string(), z.number().int()).default({}),
});
export const PolicyStatusRow = z.object({
  name: z.string(),
  selectedHosts: z.number().int(),
  appliedHosts: z.number().int(),
  failedHosts: z.number().int(),
  error: z.string().nullable().optional(),
  warnings: z.array(z.string()).default([]),
});
export const FleetStatus = z.object({
  hosts: z.array(HostStatusRow),
  policies: z.array(PolicyStatusRow),
});
export type FleetStatus = z.infer<typeof FleetStatus>;
