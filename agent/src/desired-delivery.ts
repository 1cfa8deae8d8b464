import type { Logger } from "pino";

/** How often an agent reads its stored desired state again besides after a reconnect (jittered ±25 %). */
export const DESIRED_CHECK_MS = 30_000;

/** Where the stored desired state is read from (the desired-state bucket; a plain map in tests). */
export interface StoredDesired {
  get(key: string): Promise<{ operation: string; revision: number; value: Uint8Array } | null>;
}

/**
 * Delivers one host's desired state once per distinct value, whether it came as an update or was
 * read from the bucket (`stored`: it may be older than an update already delivered). The bucket is
 * read again on demand (after a reconnect) and every DESIRED_CHECK_MS once `startChecks` ran, so an
 * update the subscription missed still arrives.
 */
export class DesiredDelivery {
  #last: Uint8Array | undefined;
  #readRevision = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly stored: StoredDesired,
    private readonly key: string,
    private readonly onValue: (data: Uint8Array, stored: boolean) => Promise<void>,
    private readonly log: Logger,
    private readonly checkMs = DESIRED_CHECK_MS,
  ) {}

  /** Hands `data` on unless it is the value delivered last. */
  async deliver(data: Uint8Array, stored: boolean): Promise<void> {
    if (this.#last && Buffer.compare(this.#last, data) === 0) return; // the same state again
    this.#last = data;
    await this.onValue(data, stored);
  }

  /** Reads the stored value and delivers it when its revision is new; a failed read is logged. */
  async read(): Promise<void> {
    try {
      const e = await this.stored.get(this.key);
      if (!e || e.operation !== "PUT" || e.revision === this.#readRevision) return;
      this.#readRevision = e.revision;
      await this.deliver(e.value, true);
    } catch (error) {
      this.log.warn({ key: this.key, err: error }, "stored desired state not read");
    }
  }

  /** Reads the stored value again periodically (jittered) until `signal` aborts or `stop`; once. */
  startChecks(signal: AbortSignal): void {
    if (this.#timer) return;
    const check = () => {
      if (signal.aborted) return;
      this.#timer = setTimeout(() => void this.read().finally(check), this.checkMs * (0.75 + Math.random() / 2));
      this.#timer.unref();
    };
    check();
  }

  stop(): void {
    clearTimeout(this.#timer);
  }
}
