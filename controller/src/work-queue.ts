import { backoffMs } from "@fleetwall/runtime";

/**
 * A work queue in the style of client-go's: a key added while queued is queued once; a key added
 * while it is being processed is processed again afterwards; one key at a time; a failed key is
 * retried with exponential backoff (the runtime's, as every retry of the process; a key's retry is a
 * timer, not a waiting loop, so stop() clears them all).
 */
export class WorkQueue {
  #queued = new Set<string>();
  #active: string | undefined;
  #again = new Set<string>();
  #failures = new Map<string, number>();
  #timers = new Set<NodeJS.Timeout>();
  #running = false;
  #stopped = false;
  processed = 0;

  constructor(
    private readonly handle: (key: string) => Promise<void>,
    private readonly onError: (key: string, error: unknown, retryInMs: number) => void,
    private readonly maxBackoffMs = 30_000,
  ) {}

  add(key: string): void {
    if (this.#stopped) return;
    if (this.#active === key) this.#again.add(key);
    else this.#queued.add(key);
    void this.#drain();
  }

  get length(): number {
    return this.#queued.size;
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#queued.clear();
  }

  async #drain(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      while (!this.#stopped && this.#queued.size > 0) {
        const key = this.#queued.values().next().value as string;
        this.#queued.delete(key);
        this.#active = key;
        try {
          await this.handle(key);
          this.#failures.delete(key);
          this.processed += 1;
        } catch (error) {
          const n = (this.#failures.get(key) ?? 0) + 1;
          this.#failures.set(key, n);
          const delay = backoffMs(n, { initialMs: 200, maxMs: this.maxBackoffMs });
          this.onError(key, error, delay);
          const t = setTimeout(() => {
            this.#timers.delete(t);
            this.add(key);
          }, delay);
          this.#timers.add(t);
        } finally {
          this.#active = undefined;
          if (this.#again.delete(key)) this.#queued.add(key);
        }
      }
    } finally {
      this.#running = false;
    }
  }
}
