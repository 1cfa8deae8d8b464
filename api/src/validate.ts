import type { z } from "zod";
import { BanList } from "./banlist.js";
import { FirewallPolicy } from "./policy.js";

/** Renders zod issues as `spec.ingress[1].ports[0]: message`, the field first. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path
      .map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
      .join("");
    return path ? `${path}: ${issue.message}` : issue.message;
  });
}

export type Resource = FirewallPolicy | BanList;

export type ResourceResult =
  | { ok: true; resource: Resource }
  | { ok: false; kind: string; name: string; errors: string[] };

const KINDS = { FirewallPolicy, BanList } as const;

/** Validates one manifest document. Unknown kinds are reported, never thrown. */
export function parseResource(doc: unknown): ResourceResult {
  const obj = (doc ?? {}) as { kind?: unknown; metadata?: { name?: unknown } };
  const kind = typeof obj.kind === "string" ? obj.kind : "";
  const name = typeof obj.metadata?.name === "string" ? obj.metadata.name : "";
  const schema = (KINDS as Record<string, z.ZodType | undefined>)[kind];
  if (!schema) {
    return { ok: false, kind, name, errors: [`kind: unsupported kind ${JSON.stringify(kind || null)} (expected ${Object.keys(KINDS).join(", ")})`] };
  }
  const parsed = schema.safeParse(doc);
  if (!parsed.success) return { ok: false, kind, name, errors: formatIssues(parsed.error) };
  return { ok: true, resource: parsed.data as Resource };
}
