import { randomBytes } from "node:crypto";
import { sealKey, sealPayloads, signPayload, type BanDecision, type SignedEnvelope, type SigningKey } from "@fleetwall/api";
import type { Logger } from "pino";
import { keyOf, type BanPlan } from "./ban-plan.js";
import type { BanMirror } from "./ban-mirror.js";

/** Where decisions go; each resolves with the bucket revision it made (when the sink knows it). */
export interface BanSink {
  putBan(key: string, envelope: SignedEnvelope): Promise<number | void>;
  deleteBan(key: string): Promise<number | void>;
}

/** Bulk puts in flight at once (see #slots): about half a second of the server's work here. */
const MAX_BULK_PUTS_IN_FLIGHT = 4096;
/** Puts started together once that many slots are free. */
const PUT_BURST = 256;
/** Decisions under one seal. */
const SEAL_SIZE = 5000;

/**
 * Executes ban plans: signs each decision as it sends it (stamping `issuedAt`, which agents check
 * against when the bucket stored it), seals bulk ones, and bounds bulk puts in flight. Then waits
 * until the mirror has seen its writes, so the next plan is made from them.
 */
export class BanPublisher {
  decisions = 0;
  #free = MAX_BULK_PUTS_IN_FLIGHT;
  #waiting: { want: number; resolve: () => void }[] = [];

  constructor(
    private readonly sink: BanSink,
    private readonly key: SigningKey,
    private readonly mirror: BanMirror,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Puts, then deletes; returns the keys written. Throws the first failure, after the rest settled. */
  async execute(plan: BanPlan): Promise<string[]> {
    const revisions: number[] = [];
    const note = (r: number | void) => void (typeof r === "number" && revisions.push(r));
    if (plan.bulk) await this.#putSealed(plan.puts, note);
    else for (const d of plan.puts) note(await this.sink.putBan(keyOf(d), signPayload(this.key, JSON.stringify(this.#stamp(d)))));
    if (!plan.bulk) this.decisions += plan.puts.length;
    for (const key of plan.deletes) note(await this.sink.deleteBan(key));
    const last = Math.max(0, ...revisions);
    if (last > 0 && !(await this.mirror.waitForRevision(last))) this.log.warn({ revision: last }, "bans watch has not delivered our own write yet");
    return plan.puts.map(keyOf);
  }

  #stamp(d: BanDecision): BanDecision {
    return { ...d, issuedAt: new Date(this.now()).toISOString() };
  }

  /**
   * Many decisions under one seal per SEAL_SIZE: the seal first, then the decisions, so an agent
   * following the bucket always knows a seal before the decisions that name it.
   */
  async #putSealed(ds: readonly BanDecision[], note: (r: number | void) => void): Promise<void> {
    for (let i = 0; i < ds.length; i += SEAL_SIZE) {
      const chunk = ds.slice(i, i + SEAL_SIZE).map((d) => this.#stamp(d));
      const id = `${this.now().toString(36)}-${randomBytes(6).toString("hex")}`;
      const { seal, envelopes } = sealPayloads(this.key, id, chunk.map((d) => JSON.stringify(d)));
      note(await this.sink.putBan(sealKey(id), seal));
      const puts: Promise<void>[] = [];
      for (let j = 0; j < chunk.length; ) {
        // in bursts: puts started together leave in one write to the server
        const n = await this.#slots(Math.min(PUT_BURST, chunk.length - j));
        for (let k = j; k < j + n; k += 1) {
          const put = this.sink
            .putBan(keyOf(chunk[k] as BanDecision), envelopes[k] as SignedEnvelope)
            .then((r) => {
              note(r);
              this.decisions += 1;
            })
            .finally(() => this.#release());
          put.catch(() => undefined); // handled by the Promise.all below, perhaps after later puts start
          puts.push(put);
        }
        j += n;
      }
      await Promise.all(puts);
    }
  }

  /**
   * Bulk puts in flight to the bucket at once, across all imports and list syncs: more only wait in
   * the server, and past the publish timeout they fail (ten concurrent imports of 1,000 on a loaded
   * controller did). Single decisions (fleet bans, `bans add`) do not wait for a slot.
   */
  async #slots(want: number): Promise<number> {
    if (this.#free >= want && this.#waiting.length === 0) this.#free -= want;
    else await new Promise<void>((resolve) => this.#waiting.push({ want, resolve })); // granted by #release
    return want;
  }

  #release(): void {
    this.#free += 1;
    // waiters in order, each once its whole burst is free
    for (let next = this.#waiting[0]; next && next.want <= this.#free; next = this.#waiting[0]) {
      this.#waiting.shift();
      this.#free -= next.want;
      next.resolve();
    }
  }
}
