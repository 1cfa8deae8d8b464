import type { Family } from "@fleetwall/api";
import type { BanOp, BanSetKind } from "./bans-render.js";
import { cidrRange } from "./cidr-range.js";

/** One address or network wanted in an interval set, with when it stops (ms; Infinity for never). */
export interface IntervalEntry {
  element: string;
  expiresAt: number;
}

export interface IntervalPlan {
  /** What the set must hold: no element overlaps another (nft refuses that), by element. */
  elements: Map<string, number>;
  /** When an element left out for lying inside another must go in, because that one expires first (Infinity: never). */
  replanAt: number;
}

/**
 * The elements of an interval set for these entries at `now`: an entry inside another is left out
 * (nested), the same element wanted twice lasts as long as the longest. Adjacent networks stay apart:
 * nft takes them. Pure.
 */
export function planIntervals(entries: Iterable<IntervalEntry>, now: number): IntervalPlan {
  const live = new Map<string, number>();
  for (const e of entries) if (e.expiresAt > now) live.set(e.element, Math.max(live.get(e.element) ?? 0, e.expiresAt));
  const ranged = [...live].map(([element, expiresAt]) => ({ element, expiresAt, ...cidrRange(element) }));
  ranged.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.end > b.end ? -1 : a.end < b.end ? 1 : 0));
  const elements = new Map<string, number>();
  let replanAt = Infinity;
  let cover: (typeof ranged)[number] | undefined;
  for (const r of ranged) {
    if (cover && r.start <= cover.end) {
      // nested (sorted by start, widest first, so it lies wholly inside)
      if (r.expiresAt > cover.expiresAt) replanAt = Math.min(replanAt, cover.expiresAt);
      continue;
    }
    cover = r;
    elements.set(r.element, r.expiresAt);
  }
  return { elements, replanAt };
}

/** The set operations that turn `before` into `after` for one set; pure. */
export function diffIntervals(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>, kind: BanSetKind, family: Family, now: number): BanOp[] {
  const ops: BanOp[] = [];
  for (const element of before.keys()) if (!after.has(element)) ops.push({ op: "remove", kind, family, element });
  for (const [element, expiresAt] of after) {
    const was = before.get(element);
    if (was === expiresAt) continue;
    const op: BanOp = { op: "upsert", kind, family, element, fresh: was === undefined };
    if (expiresAt !== Infinity) op.timeoutSeconds = (expiresAt - now) / 1000;
    ops.push(op);
  }
  return ops;
}
