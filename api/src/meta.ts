import { z } from "zod";

export const GROUP = "fleetwall.io";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Kubernetes names: DNS subdomain, the form `kubectl` accepts for cluster-scoped objects. */
export const ResourceName = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be a lowercase DNS name (a-z, 0-9, '-', '.')");

/** One DNS label (RFC 1123): lowercase letters, digits and '-', alphanumeric at both ends, at most 63. */
const DNS_LABEL = "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?";
/** A DNS-1123 subdomain: labels joined by single dots (`a..b` and `.a` are not one); at most 253 characters (checked beside it). */
export const DNS_SUBDOMAIN = `${DNS_LABEL}(\\.${DNS_LABEL})*`;
export const DNS_SUBDOMAIN_PATTERN = new RegExp(`^${DNS_SUBDOMAIN}$`);

/** A label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63 characters. */
export const LABEL_KEY_PATTERN = new RegExp(`^(${DNS_SUBDOMAIN}\\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`);
/** A label value: empty, or at most 63 characters, alphanumeric at both ends. */
export const LABEL_VALUE_PATTERN = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

export const LabelKey = z
  .string()
  .min(1)
  .max(317)
  .regex(LABEL_KEY_PATTERN, "invalid label key: [prefix/]name, the prefix a DNS subdomain (labels of a-z, 0-9, '-' joined by single dots), the name at most 63 letters, digits, '-', '_', '.'")
  .refine((k) => !k.includes("/") || k.indexOf("/") <= 253, { message: "invalid label key: the prefix is longer than 253 characters" });
export const LabelValue = z.string().max(63).regex(LABEL_VALUE_PATTERN, "invalid label value: at most 63 letters, digits, '-', '_', '.', alphanumeric at both ends");

export const LabelMap = z.record(LabelKey, LabelValue);
export type Labels = z.infer<typeof LabelMap>;

export const ObjectMeta = z.looseObject({
  name: ResourceName.describe("Name of the object; cluster-scoped, unique per kind."),
  labels: LabelMap.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  generation: z.number().int().optional(),
  resourceVersion: z.string().optional(),
  uid: z.string().optional(),
  creationTimestamp: z.string().optional(),
});
export type ObjectMeta = z.infer<typeof ObjectMeta>;

/** Standard Kubernetes condition (metav1.Condition). */
export const Condition = z.object({
  type: z.string().describe("Condition type: Ready, Reconciling, Stalled, Invalid, Degraded, InSync."),
  status: z.enum(["True", "False", "Unknown"]),
  reason: z.string().describe("CamelCase machine-readable reason."),
  message: z.string().describe("Human-readable explanation."),
  lastTransitionTime: z.string().describe("RFC 3339 time of the last status change."),
  observedGeneration: z.number().int().optional(),
});
export type Condition = z.infer<typeof Condition>;
