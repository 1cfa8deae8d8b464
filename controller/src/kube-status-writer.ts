import type { Logger } from "pino";
import type { Controller } from "./controller.js";
import { kubeStatuses, planStatusWrites, type ObjectStatus } from "./kube-status.js";

/** What the writer needs of the Kubernetes adapter. */
export interface StatusTarget {
  readonly generations: ReadonlyMap<string, number>;
  /** The status an object has in the informer cache, or undefined when the object does not exist. */
  currentStatus(key: string): ObjectStatus | null | undefined;
  writeStatus(key: string, status: ObjectStatus): Promise<void>;
}

export interface StatusWriterOptions {
  /** An object is written at most this often; changes in between are coalesced. */
  minIntervalMs: number;
  /** At most this many writes per tick (the API server's budget). */
  budget: number;
  log: Logger;
}

/**
 * Writes the status of every FirewallPolicy, BanList and FirewallHost: computed from the fleet
 * (kubeStatuses), compared with what the object already says, written only on change and
 * rate-limited. Heartbeats alone cause no writes (see LAST_SEEN_REFRESH_MS).
 */
export class KubeStatusWriter {
  #lastWrite = new Map<string, { status: ObjectStatus; at: number }>();
  writes = 0;
  failures = 0;

  constructor(
    private readonly target: StatusTarget,
    private readonly controller: Controller,
    private readonly options: StatusWriterOptions,
  ) {}

  async tick(now = Date.now()): Promise<number> {
    const previous = new Map<string, ObjectStatus>();
    const desired = kubeStatuses({
      fleet: this.controller.status(),
      generations: this.target.generations,
      selection: this.controller.selection,
      registrations: this.controller.registrations,
      previous: { get: (key: string) => this.target.currentStatus(key) ?? previous.get(key) } as ReadonlyMap<string, ObjectStatus>,
      now,
    });
    // only objects that exist; compared with what they say now, not with what was last sent
    const existing = new Map([...desired].filter(([key]) => this.target.currentStatus(key) !== undefined));
    const said = new Map([...existing.keys()].map((key) => [key, { status: this.target.currentStatus(key) ?? {}, at: this.#lastWrite.get(key)?.at ?? 0 }]));
    const due = planStatusWrites(existing, said, now, this.options.minIntervalMs, this.options.budget);
    for (const key of due) {
      const status = existing.get(key) as ObjectStatus;
      try {
        await this.target.writeStatus(key, status);
        this.#lastWrite.set(key, { status, at: now });
        this.writes += 1;
      } catch (error) {
        this.failures += 1;
        this.options.log.warn({ key, err: error }, "status not written");
      }
    }
    for (const key of [...this.#lastWrite.keys()]) if (!desired.has(key)) this.#lastWrite.delete(key);
    return due.length;
  }
}
