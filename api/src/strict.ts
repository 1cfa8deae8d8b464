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
  let bestDistance = Math.min(2, Math.max(1, Math.floor(key.length / 3)));
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (d <= bestDistance && (best === undefined || d < bestDistance)) {
      best = k;
      bestDistance = d;
    }
  }
  return best;
}

/** Edit distance counting a swap of neighbours as one edit (optimal string alignment); inputs are field names. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const up = d[i - 1] as number[];
      row[j] = Math.min((up[j] as number) + 1, (row[j - 1] as number) + 1, (up[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/** What to tell about one field zod does not know: why it is refused, or a guess at what was meant. */
function hint(key: string, known: readonly string[], refused: Readonly<Record<string, string>>): string | undefined {
  if (Object.hasOwn(refused, key)) return `not supported: ${refused[key]}`;
  const guess = didYouMean(key, known);
  return guess ? `did you mean ${guess}?` : undefined;
}

/** The message for fields zod does not know, as `strictObject` reports them. */
export function unknownFieldsMessage(keys: readonly string[], known: readonly string[], refused: Readonly<Record<string, string>> = {}): string {
  const [only] = keys;
  if (keys.length === 1 && only !== undefined) {
    if (Object.hasOwn(refused, only)) return `not supported: ${refused[only]}`;
    return `unknown field (${hint(only, known, refused) ?? `known fields: ${known.join(", ")}`})`;
  }
  const listed = keys.map((k) => {
    const h = hint(k, known, refused);
    return h ? `${k} (${h})` : k;
  });
  return `unknown fields: ${listed.join(", ")}; known fields: ${known.join(", ")}`;
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
      return unknownFieldsMessage(issue.keys, known, refused);
    },
  });
  return Object.keys(refused).length ? object.meta({ [REFUSED_FIELDS]: refused }) : object;
}
