import { z } from "zod";
import { LABEL_KEY_PATTERN, LabelKey, LabelMap, LabelValue, type Labels } from "./meta.js";
import { celString } from "./cel.js";
import { strictObject } from "./strict.js";

const MAX_MATCH_LABELS = 64;

export const LabelSelectorRequirement = strictObject({
  key: LabelKey.describe("Label key the requirement applies to."),
  operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]).describe("How the key relates to the values."),
  values: z.array(LabelValue).max(256).optional().describe("Values for In and NotIn; must be empty for Exists and DoesNotExist."),
}).meta({
  "x-kubernetes-validations": [
    { rule: "!(self.operator in ['In', 'NotIn']) || (has(self.values) && size(self.values) > 0)", message: "operators In and NotIn need at least one value" },
    { rule: "self.operator in ['In', 'NotIn'] || !has(self.values) || size(self.values) == 0", message: "operators Exists and DoesNotExist take no values" },
  ],
});

/** matchLabels: the map's keys are checked by CEL on the API server (a schema cannot reach map keys). */
const MatchLabels = LabelMap.refine((m) => Object.keys(m).length <= MAX_MATCH_LABELS, { message: `at most ${MAX_MATCH_LABELS} labels` }).meta({
  maxProperties: MAX_MATCH_LABELS,
  "x-kubernetes-validations": [{ rule: `self.all(k, k.matches(${celString(LABEL_KEY_PATTERN.source)}))`, message: "invalid label key: [prefix/]name, name at most 63 letters, digits, '-', '_', '.'" }],
});

/** The standard Kubernetes label selector. An empty selector selects every host. */
export const LabelSelector = strictObject({
  matchLabels: MatchLabels.optional().describe("Hosts must carry every one of these labels with these values."),
  matchExpressions: z.array(LabelSelectorRequirement).max(64).optional().describe("Set-based requirements, all of which must hold."),
})
  .superRefine((sel, ctx) => {
    sel.matchExpressions?.forEach((req, i) => {
      const hasValues = (req.values?.length ?? 0) > 0;
      const wantsValues = req.operator === "In" || req.operator === "NotIn";
      if (wantsValues && !hasValues) {
        ctx.addIssue({ code: "custom", path: ["matchExpressions", i, "values"], message: `operator ${req.operator} needs at least one value` });
      }
      if (!wantsValues && hasValues) {
        ctx.addIssue({ code: "custom", path: ["matchExpressions", i, "values"], message: `operator ${req.operator} takes no values` });
      }
    });
  });
export type LabelSelector = z.infer<typeof LabelSelector>;

/** Label selector semantics as in Kubernetes (k8s.io/apimachinery/pkg/labels). */
export function matchesSelector(selector: LabelSelector | undefined, labels: Labels): boolean {
  if (!selector) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, req.key);
    const value = labels[req.key];
    const values = req.values ?? [];
    switch (req.operator) {
      case "In":
        if (!has || !values.includes(value as string)) return false;
        break;
      case "NotIn":
        if (has && values.includes(value as string)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
    }
  }
  return true;
}

/** Parses `k=v,k2=v2` (the --labels flag form). */
export function parseLabelList(text: string): Labels {
  const labels: Labels = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new Error(`label "${part}" is not of the form key=value`);
    labels[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return LabelMap.parse(labels);
}
