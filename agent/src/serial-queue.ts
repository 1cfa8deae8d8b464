/** Runs operations one at a time, in the order given; a failed one does not stop those after it. */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  /** Told every failure of `runLogged`. */
  constructor(private readonly onError: (error: unknown) => void) {}

  /** Runs `fn` after the operations queued before it; its result or failure is the caller's. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(fn);
    this.#tail = next.catch(() => undefined);
    return next;
  }

  readonly #periodic = new Set<string>();

  /**
   * A periodic operation (`key`: which): queued unless one of the same key is queued or running.
   * A drift check on a table with a 200,000-element set takes nft about 10 s; one queued every
   * second piled up without end, and a new desired state waited behind minutes of them.
   */
  async runPeriodic(key: string, fn: () => Promise<unknown>): Promise<void> {
    if (this.#periodic.has(key)) return;
    this.#periodic.add(key);
    try {
      await this.runLogged(fn);
    } finally {
      this.#periodic.delete(key);
    }
  }

  /** Runs `fn` after the others; a failure goes to `onError` and never rejects. */
  async runLogged(fn: () => Promise<unknown>): Promise<void> {
    try {
      await this.run(fn);
    } catch (error) {
      this.onError(error);
    }
  }
}
