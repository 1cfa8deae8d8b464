import type { Family } from "@fleetwall/api";
import type { BanBelief } from "./bans-belief.js";
import type { BanEntry } from "./bans-decision.js";
import type { BanKernel } from "./bans-kernel.js";
import type { LocalBans } from "./bans-local.js";
import { diffIntervals, planIntervals } from "./bans-plan.js";
import { INTERVAL_SETS, familyOf } from "./bans-rebuild.js";
import type { BanOp } from "./bans-render.js";

/** The marked changes of one flush, as kernel operations, and when each interval set it planned must be planned again. */
export interface TakenChanges {
  intervals: BanOp[];
  singles: BanOp[];
  replanAt: Map<string, number>;
}

/**
 * The elements whose kernel state must be brought in line with what the host holds: single bans by
 * element (true while every change to it was a plain add), local bans by address, and interval sets
 * (`"<kind> <family>"`) as a whole. `take` turns them into kernel operations and starts afresh.
 */
export class BanChanges {
  #singles = new Map<string, boolean>();
  #local = new Set<string>();
  #intervals = new Set<string>();

  get pending(): boolean {
    return this.#singles.size > 0 || this.#local.size > 0 || this.#intervals.size > 0;
  }
  get intervalsPending(): boolean {
    return this.#intervals.size > 0;
  }

  /** Marks a decision's element; `fresh`: it was not in the kernel (a plain add). */
  touch(e: BanEntry, fresh: boolean): void {
    if (e.kind !== "ban") {
      this.#intervals.add(`${e.kind} ${e.family}`);
      return;
    }
    // by element alone: the family follows from it
    const was = this.#singles.get(e.element);
    this.#singles.set(e.element, was === undefined ? fresh : was && fresh);
  }

  touchLocal(address: string): void {
    this.#local.add(address);
  }

  touchInterval(id: string): void {
    this.#intervals.add(id);
  }

  /** Marks everything the host holds, as fresh (after the kernel's sets were emptied). */
  touchAll(belief: BanBelief, local: LocalBans): void {
    belief.forEachSingle((element) => this.#singles.set(element, true));
    for (const b of local.list()) this.#local.add(b.address);
    for (const [kind, family] of INTERVAL_SETS) this.#intervals.add(`${kind} ${family}`);
  }

  clear(): void {
    this.#singles = new Map();
    this.#local = new Set();
    this.#intervals = new Set();
  }

  /** The marked changes as operations against what the kernel holds, at `now`; the marks are cleared. */
  take(belief: BanBelief, local: LocalBans, kernel: BanKernel, now: number): TakenChanges {
    const singles: BanOp[] = [];
    const op = (kind: "ban" | "local", family: Family, element: string, at: number, fresh: boolean): BanOp =>
      at > now ? { op: "upsert", kind, family, element, fresh, ...(at === Infinity ? {} : { timeoutSeconds: (at - now) / 1000 }) } : { op: "remove", kind, family, element };
    for (const [element, fresh] of this.#singles) singles.push(op("ban", familyOf(element), element, belief.singleExpiry(element), fresh));
    for (const address of this.#local) singles.push(op("local", familyOf(address), address, local.get(address)?.expiresAt ?? 0, false));
    const intervals: BanOp[] = [];
    const replanAt = new Map<string, number>();
    for (const id of this.#intervals) {
      const [kind, family] = id.split(" ") as ["allow" | "net", Family];
      const plan = planIntervals(belief.intervals(kind, family), now);
      replanAt.set(id, plan.replanAt);
      intervals.push(...diffIntervals(kernel.intervals(id), plan.elements, kind, family, now));
    }
    this.clear();
    return { intervals, singles, replanAt };
  }
}
