import { z } from "zod";
import { API_VERSION, Condition, ObjectMeta } from "./meta.js";

export const FirewallHostStatus = z.object({
  addresses: z.array(z.string()).optional().describe("Addresses the agent reported."),
  agentVersion: z.string().optional(),
  nftVersion: z.string().optional(),
  lastSeen: z.string().optional().describe("Time of the last report or heartbeat."),
  desiredRevision: z.number().int().optional().describe("Revision the controller published for this host."),
  appliedRevision: z.number().int().optional().describe("Revision the agent reports enforcing."),
  rulesetHash: z.string().optional().describe("sha256 of the nft script the agent loaded."),
  activeBans: z.number().int().optional(),
  driftRepairs: z.number().int().optional(),
  conditions: z.array(Condition).optional(),
});

/** One per agent; created by the controller on registration. Its labels are what hostSelector matches. */
export const FirewallHost = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal("FirewallHost"),
  metadata: ObjectMeta,
  spec: z.object({}).default({}),
  status: FirewallHostStatus.optional(),
});
export type FirewallHost = z.infer<typeof FirewallHost>;
