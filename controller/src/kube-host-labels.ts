import { PatchStrategy, setHeaderOptions, type CustomObjectsApi, type KubernetesObject } from "@kubernetes/client-node";
import { API_VERSION, canonicalJson, type HostRegistration, type Labels } from "@fleetwall/api";
import type { Logger } from "pino";
import { KubeApiError, kubeFailure } from "./kube-errors.js";

/** The labels an agent proposed, as last applied to its FirewallHost (operators' labels are kept). */
export const PROPOSED_LABELS = "fleetwall.io/proposed-labels";

/** The labels to merge-patch onto a FirewallHost, and whether its annotation could not be read. */
export interface HostLabelPatch {
  labels: Record<string, string | null>;
  /** The annotation is not a JSON object of strings (edited by hand): it was treated as absent. */
  corrupt: boolean;
}

/**
 * The merge patch of a FirewallHost's labels for an agent's new proposal: the proposed labels, and
 * null for each label the agent proposed before (per the annotation) and no longer does. Labels an
 * operator added are left alone. A corrupt annotation is treated as absent, so the patch (which
 * writes the annotation anew) repairs it instead of failing on every registration. Pure.
 */
export function hostLabelPatch(annotation: string | undefined, proposed: Labels): HostLabelPatch {
  const before = annotation === undefined ? {} : parseProposed(annotation);
  const dropped = Object.keys(before ?? {}).filter((k) => !(k in proposed));
  return { labels: { ...proposed, ...Object.fromEntries(dropped.map((k) => [k, null])) }, corrupt: before === undefined };
}

/** The annotation's labels, or undefined when it is not a JSON object of strings. */
function parseProposed(text: string): Labels | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  if (!Object.values(value).every((v) => typeof v === "string")) return undefined;
  return value as Labels;
}

const FWH = { group: "fleetwall.io", version: "v1alpha1", plural: "firewallhosts" } as const;

/**
 * Creates the FirewallHost of a registered agent (`existing`: as the cache holds it), labelled as it
 * proposes; later registrations apply the labels it proposes when they change (hostLabelPatch) and
 * leave the operator's labels alone. A corrupt annotation is said once per write, naming it and the host.
 */
export async function ensureFirewallHost(api: CustomObjectsApi, existing: KubernetesObject | undefined, reg: HostRegistration, log: Logger): Promise<void> {
  const proposed = canonicalJson(reg.labels);
  if (!existing) {
    const body = { apiVersion: API_VERSION, kind: "FirewallHost", metadata: { name: reg.hostId, labels: reg.labels, annotations: { [PROPOSED_LABELS]: proposed } }, spec: {} };
    try {
      await api.createClusterCustomObject({ ...FWH, body });
      return;
    } catch (error) {
      // created meanwhile (by a previous leader, or not yet in our cache): fall through to patch
      if ((error as { code?: number }).code !== 409) throw new KubeApiError(kubeFailure(error, { verb: "create", resource: "firewallhosts", name: reg.hostId }), error);
    }
  }
  const before = existing?.metadata?.annotations?.[PROPOSED_LABELS];
  if (before === proposed) return;
  const { labels, corrupt } = hostLabelPatch(before, reg.labels);
  // edited by hand into something unreadable: overwritten with the agent's proposal
  if (corrupt) log.warn({ host: reg.hostId, annotation: PROPOSED_LABELS, value: before }, "FirewallHost annotation unreadable; replaced with the agent's proposed labels");
  await api.patchClusterCustomObject({ ...FWH, name: reg.hostId, body: { metadata: { labels, annotations: { [PROPOSED_LABELS]: proposed } } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
}
