import { z } from "zod";
import { DurationString } from "./duration.js";
import { API_VERSION, Condition, ObjectMeta } from "./meta.js";
import { CidrString, MIN_ALLOW_PREFIX, parseCidr } from "./net.js";
import { LabelSelector } from "./selector.js";
import { strictObject } from "./strict.js";

/**
 * An entry applies wherever its list does. A selector per entry was once silently dropped, banning
 * a "db only" address on every host; it is refused until agents can honour it.
 */
const ENTRY_HOST_SELECTOR = "a BanList entry applies to every host its list selects; put entries for some hosts only in a BanList of their own with spec.hostSelector";

/** Text shown to operators in terminals: no control characters (newlines, escapes, C1 controls). */
export const ReasonText = z.string().max(200).regex(/^[^\x00-\x1f\x7f-\x9f]*$/, "must not contain control characters (newlines, tabs, terminal escapes)");

export const BanEntry = strictObject(
  {
    cidr: CidrString,
    reason: ReasonText.optional().describe("Why the address is listed; printed by `fleetwall bans list`."),
    duration: DurationString.optional().describe("How long the entry holds, from when the controller first saw it."),
    expires: z.iso.datetime({ offset: true }).optional().describe("RFC 3339 time at which the entry stops holding."),
  },
  { hostSelector: ENTRY_HOST_SELECTOR },
)
  .refine((e) => !(e.duration && e.expires), { message: "give duration or expires, not both", path: ["expires"] })
  .meta({ "x-kubernetes-validations": [{ rule: "!(has(self.duration) && has(self.expires))", message: "give duration or expires, not both" }] });
export type BanEntry = z.infer<typeof BanEntry>;

export const BanListSpec = strictObject({
  type: z.enum(["Deny", "Allow"]).default("Deny").describe("Deny bans the entries; Allow lists addresses that are never banned."),
  hostSelector: LabelSelector.optional().describe("Hosts the list applies to; every host when absent."),
  entries: z.array(BanEntry).max(10000).default([]).describe("Static entries. Larger lists travel through JetStream (fleetwall bans import)."),
}).superRefine((spec, ctx) => {
  if (spec.type !== "Allow") return;
  // one Allow entry of 0.0.0.0/0 and ::/0 would exempt everyone: every ban, fleet-wide, void
  spec.entries.forEach((e, i) => {
    let cidr: ReturnType<typeof parseCidr>;
    try {
      cidr = parseCidr(e.cidr);
    } catch {
      return; // reported by CidrString
    }
    const min = MIN_ALLOW_PREFIX[cidr.family];
    if (cidr.prefix < min) {
      ctx.addIssue({ code: "custom", path: ["entries", i, "cidr"], message: `${e.cidr} is too broad for an Allow list: at most /${min} for ${cidr.family === "ip" ? "IPv4" : "IPv6"} (docs/bans.md)` });
    }
  });
});
export type BanListSpec = z.infer<typeof BanListSpec>;

/** What the controller writes into a BanList's status subresource (controller/src/kube-status.ts). */
export const BanListStatus = z.object({
  observedGeneration: z.number().int().optional().describe("The generation of the spec this status describes."),
  entries: z.number().int().optional().describe("Entries in the list."),
  active: z.number().int().optional().describe("Entries in force (not expired)."),
  hostsEnforcing: z.number().int().optional().describe("Selected hosts in sync with the list."),
  conditions: z.array(Condition).optional().describe("Ready when the list is published to the hosts."),
});

export const BanList = strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal("BanList"),
  metadata: ObjectMeta,
  spec: BanListSpec,
  status: BanListStatus.optional(),
});
export type BanList = z.infer<typeof BanList>;
