import { z } from "zod";
import { DurationString } from "./duration.js";
import { API_VERSION, Condition, ObjectMeta } from "./meta.js";
import { CidrString } from "./net.js";
import { LabelSelector } from "./selector.js";

export const BanEntry = z
  .object({
    cidr: CidrString,
    reason: z.string().max(200).optional().describe("Why the address is listed."),
    duration: DurationString.optional().describe("How long the entry holds, from when the controller first saw it."),
    expires: z.iso.datetime({ offset: true }).optional().describe("RFC 3339 time at which the entry stops holding."),
  })
  .refine((e) => !(e.duration && e.expires), { message: "give duration or expires, not both", path: ["expires"] })
  .meta({ "x-kubernetes-validations": [{ rule: "!(has(self.duration) && has(self.expires))", message: "give duration or expires, not both" }] });
export type BanEntry = z.infer<typeof BanEntry>;

export const BanListSpec = z.object({
  type: z.enum(["Deny", "Allow"]).default("Deny").describe("Deny bans the entries; Allow lists addresses that are never banned."),
  hostSelector: LabelSelector.optional().describe("Hosts the list applies to; every host when absent."),
  entries: z.array(BanEntry).max(10000).default([]).describe("Static entries. Larger lists travel through JetStream (fleetwall bans import)."),
});
export type BanListSpec = z.infer<typeof BanListSpec>;

export const BanList = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal("BanList"),
  metadata: ObjectMeta,
  spec: BanListSpec,
  status: z
    .object({
      observedGeneration: z.number().int().optional(),
      entries: z.number().int().optional(),
      active: z.number().int().optional(),
      hostsEnforcing: z.number().int().optional(),
      conditions: z.array(Condition).optional(),
    })
    .optional(),
});
export type BanList = z.infer<typeof BanList>;
