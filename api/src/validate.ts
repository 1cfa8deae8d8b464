import type { z } from "zod";
import { BanList } from "./banlist.js";
import type { Jail } from "./jail.js";
import { FirewallPolicy } from "./policy.js";

type Issue = z.core.$ZodIssue;

/** `spec.ingress[1].ports[0]`; a key that is not a plain name (a space, a quote, empty) as `["…"]`, so it cannot read as another path. */
function pathText(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : !PLAIN_KEY.test(String(p)) ? `[${JSON.stringify(String(p))}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
}
const PLAIN_KEY = /^[A-Za-z_$][\w$-]*$/;

/** How far a union branch is from the input: its type did not match (2), its value did not (1), or something inside it (0). */
function distance(branch: readonly Issue[]): number {
  const own = branch.filter((i) => i.path.length === 0);
  if (own.some((i) => i.code === "invalid_type")) return 2;
  return own.some((i) => i.code === "invalid_value") ? 1 : 0;
}

/** The branch of a failed union the input meant: the nearest, then the one with the fewest issues. Undefined when no branch took its type. */
function meantBranch(issue: Issue & { code: "invalid_union" }): Issue[] | undefined {
  const ranked = issue.errors.map((branch) => ({ branch, d: distance(branch) })).sort((a, b) => a.d - b.d || a.branch.length - b.branch.length);
  const best = ranked[0];
  return best && best.d < 2 ? best.branch : undefined;
}

function flatten(issue: Issue, prefix: readonly PropertyKey[]): { path: PropertyKey[]; message: string }[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === "unrecognized_keys" && issue.keys.length === 1) return [{ path: [...path, issue.keys[0] as string], message: issue.message }];
  if (issue.code === "invalid_union" && issue.errors.length > 0) {
    const branch = meantBranch(issue);
    if (branch) return branch.flatMap((i) => flatten(i, path));
    const expected = [...new Set(issue.errors.flatMap((b) => b.filter((i) => i.code === "invalid_type").map((i) => (i as { expected: string }).expected)))];
    if (expected.length) return [{ path, message: `expected ${expected.join(" or ")}` }];
  }
  return [{ path, message: issue.message }];
}

/**
 * Renders zod issues as `spec.ingress[1].ports[0]: message`, the field first. An unknown field is
 * named in the path (`spec.defaultinput: unknown field (did you mean defaultInput?)`); a union that
 * failed reports the branch the input meant rather than "Invalid input".
 */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.flatMap((issue) => flatten(issue as Issue, [])).map(({ path, message }) => (path.length ? `${pathText(path)}: ${message}` : message));
}

export type Resource = FirewallPolicy | BanList;

export type ResourceResult =
  | { ok: true; resource: Resource }
  | { ok: false; kind: string; name: string; errors: string[] };

const KINDS = { FirewallPolicy, BanList } as const;

/**
 * A check of one valid jail that the schema cannot make (its regexes compiled by the agent's
 * engine): each issue's path is inside the jail (`["failRegex", 1]`).
 */
export type JailCheck = (jail: Jail) => readonly { path: readonly (string | number)[]; message: string }[];

export interface ParseOptions {
  /** Run on every jail of a FirewallPolicy that passed the schema; any issue makes it invalid. */
  checkJail?: JailCheck;
}

/** The issues `check` finds in a policy's jails, as `spec.jails[0].failRegex[1]: message`. */
function jailIssues(policy: FirewallPolicy, check: JailCheck): string[] {
  return (policy.spec.jails ?? []).flatMap((jail, i) => check(jail).map((issue) => `${pathText(["spec", "jails", i, ...issue.path])}: ${issue.message}`));
}

/** Validates one manifest document. Unknown kinds are reported, never thrown. */
export function parseResource(doc: unknown, options: ParseOptions = {}): ResourceResult {
  const obj = (doc ?? {}) as { kind?: unknown; metadata?: { name?: unknown } };
  const kind = typeof obj.kind === "string" ? obj.kind : "";
  const name = typeof obj.metadata?.name === "string" ? obj.metadata.name : "";
  const schema = (KINDS as Record<string, z.ZodType | undefined>)[kind];
  if (!schema) {
    return { ok: false, kind, name, errors: [`kind: unsupported kind ${JSON.stringify(kind || null)} (expected ${Object.keys(KINDS).join(", ")})`] };
  }
  const parsed = schema.safeParse(doc);
  if (!parsed.success) return { ok: false, kind, name, errors: formatIssues(parsed.error) };
  const resource = parsed.data as Resource;
  const errors = resource.kind === "FirewallPolicy" && options.checkJail ? jailIssues(resource, options.checkJail) : [];
  if (errors.length) return { ok: false, kind, name, errors };
  return { ok: true, resource };
}
