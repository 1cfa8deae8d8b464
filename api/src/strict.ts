import { z } from "zod";

/**
 * Fields that are refused with a reason rather than as unknown: a name users reach for that this
 * object does not support. The CRD generator declares each of them and refuses it with a CEL rule,
 * so the API server says the same as the controller (`structural` in crd.ts reads this key).
 */
export const REFUSED_FIELDS = "x-fleetwall-refused-fields";

/** The closest known field to a misspelt one: same letters in another case, else at most two edits away. */
export function didYouMean(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const sameCase = known.find((k) => k.toLowerCase() === lower);
  if (sameCase) return sameCase;
  let best: string | undefined;
  let bestDistance = Math.min(2, Math.floor(key.length / 3));
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (d <= bestDistance && (best === undefined || d < bestDistance)) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance; inputs are field names, a few dozen characters at most. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length] as number;
}

/** What is wrong with one field zod does not know: refused with a reason, or unknown (with a guess). */
export function unknownFieldMessage(key: string, known: readonly string[], refused: Readonly<Record<string, string>> = {}): string {
  if (Object.hasOwn(refused, key)) return `not supported: ${refused[key]}`;
  const guess = didYouMean(key, known);
  return guess ? `unknown field (did you mean ${guess}?)` : `unknown field (known fields: ${known.join(", ")})`;
}

/**
 * A zod object that refuses fields it does not know, naming each one: a misspelt `sorces` must
 * fail, not vanish and widen a rule. The message of a single unknown field leaves the field's name
 * to the path (`formatIssues` prints `spec.ingress[0].sorces: unknown field (did you mean sources?)`);
 * several in one object are listed by name (`spec: unknown fields: a (…), b (…)`).
 */
export function strictObject<Shape extends z.ZodRawShape>(shape: Shape, refused: Readonly<Record<string, string>> = {}) {
  const known = Object.keys(shape);
  const object = z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== "unrecognized_keys") return undefined;
      if (issue.keys.length === 1) return unknownFieldMessage(issue.keys[0] as string, known, refused);
      return `unknown fields: ${issue.keys.map((k) => `${k} (${unknownFieldMessage(k, known, refused)})`).join(", ")}`;
    },
  });
  return Object.keys(refused).length ? object.meta({ [REFUSED_FIELDS]: refused }) : object;
}
