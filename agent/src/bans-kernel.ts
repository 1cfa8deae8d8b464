import type { Logger } from "pino";
import type { BanElement, FirewallBackend } from "./backend.js";
import type { BanOp } from "./bans-render.js";

const MAX_REFUSED = 1_000;

/**
 * The kernel side of the bans: applies batches of set changes through the backend (a batch refused
 * is halved until the bad element is found), remembers what each interval set holds (their plans
 * are diffed against it) and which elements nft refused, until they go in or go away.
 */
export class BanKernel {
  /** "allow ip", "net ip6", …: element → when it expires (ms; Infinity never). */
  #intervals = new Map<string, Map<string, number>>();
  #refused = new Map<string, string>();
  errors = 0;
  applied = 0;

  constructor(
    private readonly backend: FirewallBackend,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  /** What an interval set holds, as far as the agent put it there. */
  intervals(id: string): ReadonlyMap<string, number> {
    return this.#intervals.get(id) ?? new Map();
  }

  /** Elements nft refused (id "kind element") with its message; bounded. */
  get refused(): ReadonlyMap<string, string> {
    return this.#refused;
  }

  /** Replaces the table's content; `intervals` is what its interval sets now hold. Throws when refused (nothing changed). */
  async replace(elements: readonly BanElement[], intervals: Map<string, Map<string, number>>): Promise<void> {
    await this.backend.replaceBans(elements);
    this.#intervals = intervals;
    this.#refused.clear();
  }

  async apply(batch: readonly BanOp[]): Promise<void> {
    if (batch.length === 0) return;
    try {
      await this.backend.applyBanOps(batch);
      this.applied += batch.length;
      for (const o of batch) this.#record(o);
      // small batches are single bans: their elements in the log let latency be measured end to end
      if (batch.length <= 8) this.log.debug({ elements: batch.map((o) => `${o.op} ${o.element}`) }, "ban elements applied");
      else this.log.debug({ count: batch.length }, "ban elements applied");
    } catch (error) {
      if (batch.length === 1) return this.#refuse(batch[0] as BanOp, error);
      const half = Math.ceil(batch.length / 2);
      await this.apply(batch.slice(0, half));
      await this.apply(batch.slice(half));
    }
  }

  #refuse(o: BanOp, error: unknown): void {
    const id = `${o.kind} ${o.element}`;
    this.errors += 1;
    // the removal of an element nft never took: nothing is left to undo
    if (o.op === "remove" && this.#refused.delete(id)) return;
    if (this.#refused.size < MAX_REFUSED || this.#refused.has(id)) this.#refused.set(id, describe(error));
    this.log.error({ element: o.element, set: o.kind, err: error }, "ban element refused by nft");
  }

  /** What the kernel holds after an op went in: interval sets are tracked element by element. */
  #record(o: BanOp): void {
    this.#refused.delete(`${o.kind} ${o.element}`);
    if (o.kind !== "allow" && o.kind !== "net") return;
    const id = `${o.kind} ${o.family}`;
    const set = this.#intervals.get(id) ?? new Map<string, number>();
    this.#intervals.set(id, set);
    if (o.op === "remove") set.delete(o.element);
    else set.set(o.element, o.timeoutSeconds === undefined ? Infinity : this.now() + o.timeoutSeconds * 1000);
  }
}

function describe(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0]?.slice(0, 300) ?? "";
}
