/**
 * Pieces of CEL for the CRDs' `x-kubernetes-validations`, written next to the zod checks they
 * mirror. The API server's regexes are RE2: patterns given here use only what RE2 and JavaScript
 * read alike (no lookaround, no backreferences).
 */

/** A CEL raw string literal (no escapes processed), for a regex source or any text without `'`. */
export function celString(text: string): string {
  if (text.includes("'") || text.includes("\n")) throw new Error(`cannot quote ${JSON.stringify(text)} as a CEL raw string`);
  return `r'${text}'`;
}

export interface CelRule {
  rule: string;
  message: string;
}
