import { sha256Hex, canonicalJson } from "@fleetwall/api";
import type { NftObject } from "./nft.js";

/** Chain name → rule comments in order, as the kernel has them. */
export function chainComments(objects: readonly NftObject[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const o of objects) {
    if (o.chain) out[String(o.chain.name)] ??= [];
  }
  for (const o of objects) {
    if (!o.rule) continue;
    const chain = String(o.rule.chain);
    (out[chain] ??= []).push(String(o.rule.comment ?? ""));
  }
  return out;
}

/** Differences between what was rendered and what the kernel lists; empty when they agree. */
export function compareReadback(expected: Record<string, string[]>, actual: Record<string, string[]>): string[] {
  const problems: string[] = [];
  for (const [chain, rules] of Object.entries(expected)) {
    const got = actual[chain];
    if (!got) problems.push(`chain ${chain} is missing`);
    else if (canonicalJson(got) !== canonicalJson(rules)) problems.push(`chain ${chain} has ${got.length} rules, expected ${rules.length}`);
  }
  for (const chain of Object.keys(actual)) {
    if (!(chain in expected)) problems.push(`unexpected chain ${chain}`);
  }
  return problems;
}

/**
 * A fingerprint of the table that ignores what changes by itself (handles, counter values), so
 * that any foreign change to rules, chains or sets shows up as a different value.
 */
export function fingerprint(objects: readonly NftObject[] | undefined): string {
  if (!objects) return "absent";
  return sha256Hex(canonicalJson(objects.map((o) => strip(o))));
}

function strip(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => strip(v));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === "handle") continue;
      if (k === "packets" || k === "bytes") continue;
      out[k] = strip(v);
    }
    return out;
  }
  return value;
}
