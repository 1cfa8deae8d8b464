import type { BanList } from "@fleetwall/api";
import type { Logger } from "pino";
import type { BanMirror } from "./ban-mirror.js";
import type { ProtectionCheck, Refusal } from "./ban-plan.js";
import { planBanLists } from "./banlist-plan.js";
import type { BanPublisher } from "./ban-publisher.js";

/** How one BanList was last synced: what was refused with why, and a failure to publish. */
export interface BanListOutcome {
  refused: Refusal[];
  error?: string;
}

/** How often lists are synced without a change (entries with a duration or expiry run out). */
const RESYNC_MS = 30_000;

/**
 * Keeps the bans bucket equal to the BanList resources: level-based, one pass at a time, woken by a
 * change of lists or protections, and every RESYNC_MS. Each pass records per list what was refused
 * and why, which the list's status conditions say.
 */
export class BanListReconciler {
  #lists: BanList[] = [];
  #outcomes = new Map<string, BanListOutcome>();
  #dirty = true;
  #wake: (() => void) | undefined;
  passes = 0;

  constructor(
    private readonly mirror: BanMirror,
    private readonly check: ProtectionCheck,
    private readonly publisher: BanPublisher,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  setLists(lists: readonly BanList[]): void {
    this.#lists = [...lists];
    this.kick();
  }

  /** Something the plan depends on changed (protections, the bucket). */
  kick(): void {
    this.#dirty = true;
    this.#wake?.();
  }

  get outcomes(): ReadonlyMap<string, BanListOutcome> {
    return this.#outcomes;
  }

  /** One pass: plan against the mirror, publish, record each list's outcome. */
  async sync(): Promise<void> {
    const plan = planBanLists(this.#lists, this.mirror.decisions, this.check, this.now());
    const outcomes = new Map<string, BanListOutcome>(this.#lists.map((l) => [l.metadata.name, { refused: [] }]));
    for (const r of plan.refusals) {
      outcomes.get(r.list as string)?.refused.push(r);
      this.log.warn({ list: r.list, cidr: r.cidr, reason: r.reason }, "BanList entry not published");
    }
    this.passes += 1;
    try {
      await this.publisher.execute(plan);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const touched = new Set(plan.puts.map((d) => d.list));
      for (const [name, o] of outcomes) if (touched.has(name)) o.error = message;
      throw error;
    } finally {
      this.#outcomes = outcomes;
    }
  }

  /** Runs passes until aborted; a failed pass is retried with backoff. */
  async run(signal: AbortSignal): Promise<void> {
    let backoff = 500;
    const timer = setInterval(() => this.kick(), RESYNC_MS);
    timer.unref?.();
    const stop = () => this.#wake?.();
    signal.addEventListener("abort", stop, { once: true });
    try {
      while (!signal.aborted) {
        if (!this.#dirty) {
          await new Promise<void>((resolve) => (this.#wake = resolve));
          this.#wake = undefined;
          continue;
        }
        this.#dirty = false;
        try {
          await this.sync();
          backoff = 500;
        } catch (error) {
          this.log.error({ err: error, retryInMs: backoff }, "BanList sync failed; retrying");
          this.#dirty = true;
          await new Promise((r) => setTimeout(r, backoff));
          backoff = Math.min(backoff * 2, 10_000);
        }
      }
    } finally {
      clearInterval(timer);
      signal.removeEventListener("abort", stop);
    }
  }
}
