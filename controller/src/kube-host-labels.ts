import type { Labels } from "@fleetwall/api";

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
