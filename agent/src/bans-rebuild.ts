import type { Family } from "@fleetwall/api";
import type { BanElement } from "./backend.js";
import type { BanBelief } from "./bans-belief.js";
import type { BanKernel } from "./bans-kernel.js";
import type { LocalBan } from "./bans-local.js";
import { planIntervals } from "./bans-plan.js";
import type { BanSetKind } from "./bans-render.js";

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
