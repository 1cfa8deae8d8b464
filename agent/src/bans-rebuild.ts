import { parseCidr, type Family } from "@fleetwall/api";
import type { BanElement } from "./backend.js";
import type { BanBelief } from "./bans-belief.js";
import type { BanKernel } from "./bans-kernel.js";
import type { LocalBan } from "./bans-local.js";
import { planIntervals } from "./bans-plan.js";
import { setName, type BanSetKind } from "./bans-render.js";
import type { BansListing } from "./bans-listing.js";

export const INTERVAL_SETS = [["allow", "ip"], ["allow", "ip6"], ["net", "ip"], ["net", "ip6"]] as const;

export function familyOf(address: string): Family {
  return address.includes(":") ? "ip6" : "ip";
}

/**
 * Everything the bans table holds at `now` for what the host holds and its local bans: each element
 * with its remaining time, the interval sets as planned (nested networks left out), and when each
 * plan must be made again.
 */
export function rebuildContent(belief: BanBelief, local: readonly LocalBan[], now: number): { elements: BanElement[]; plans: Map<string, Map<string, number>>; replanAt: Map<string, number> } {
  const elements: BanElement[] = [];
  const timeout = (at: number) => (at === Infinity ? {} : { timeoutSeconds: (at - now) / 1000 });
  belief.forEachSingle((element, family, at) => {
    if (at > now) elements.push({ kind: "ban", family, element, ...timeout(at) });
  });
  for (const b of local) if (b.expiresAt > now) elements.push({ kind: "local", family: familyOf(b.address), element: b.address, ...timeout(b.expiresAt) });
  const plans = new Map<string, Map<string, number>>();
  const replanAt = new Map<string, number>();
  for (const [kind, family] of INTERVAL_SETS) {
    const plan = planIntervals(belief.intervals(kind, family), now);
    plans.set(`${kind} ${family}`, plan.elements);
    replanAt.set(`${kind} ${family}`, plan.replanAt);
    for (const [element, at] of plan.elements) elements.push({ kind, family, element, ...timeout(at) });
  }
  return { elements, plans, replanAt };
}

export interface SpotPick {
  kind: BanSetKind;
  family: Family;
  element: string;
  expiresAt: number;
}

/** A few elements the kernel must hold: `samples` single addresses, and a quarter as many of each interval set and of the local bans. */
export function spotPicks(belief: BanBelief, kernel: BanKernel, local: readonly LocalBan[], samples: number): SpotPick[] {
  const picks: SpotPick[] = belief.sampleSingles(samples).map((e) => ({ kind: "ban" as const, ...e }));
  const few = Math.max(1, Math.floor(samples / 4));
  for (const [kind, family] of INTERVAL_SETS) for (const [element, expiresAt] of [...kernel.intervals(`${kind} ${family}`)].slice(0, few)) picks.push({ kind, family, element, expiresAt });
  for (const b of local.slice(0, few)) picks.push({ kind: "local", family: familyOf(b.address), element: b.address, expiresAt: b.expiresAt });
  return picks;
}

/** Up to this many elements, a drift check compares the whole table with nft's listing; above, it spot-checks (a listing of a million takes half a minute). */
export const FULL_CHECK_MAX = 4_096;

/**
 * The first difference between what the bans table must hold (`want`, as rebuildContent gives it)
 * and nft's listing of it: an element missing from the kernel, or one the kernel holds that nothing
 * asked for (added behind the agent's back). Elements within `slackMs` of expiring on either side,
 * and those nft refused (`refused`: "kind element"), are left out. Undefined when they agree. Pure.
 */
export function listingDiffers(want: readonly BanElement[], listing: BansListing, refused: ReadonlyMap<string, string>, slackMs: number): string | undefined {
  const key = (set: string, element: string) => `${set} ${element}`;
  const held = new Set<string>();
  for (const [set, elements] of listing) for (const k of elements) held.add(key(set, k.element));
  const wanted = new Set<string>();
  for (const e of want) {
    const k = key(setName(e.kind, e.family), parseCidr(e.element).text);
    wanted.add(k);
    const soon = e.timeoutSeconds !== undefined && e.timeoutSeconds * 1000 <= slackMs;
    if (!held.has(k) && !soon && !refused.has(`${e.kind} ${e.element}`)) return `${k} missing`;
  }
  for (const [set, elements] of listing) {
    for (const k of elements) {
      const soon = k.expiresInMs !== undefined && k.expiresInMs <= slackMs;
      if (!soon && !wanted.has(key(set, k.element))) return `${key(set, k.element)} not asked for`;
    }
  }
  return undefined;
}
