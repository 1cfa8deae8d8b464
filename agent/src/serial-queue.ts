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

  /** Runs `fn` after the others; a failure goes to `onError` and never rejects. */
  async runLogged(fn: () => Promise<unknown>): Promise<void> {
    try {
      await this.run(fn);
    } catch (error) {
      this.onError(error);
    }
  }
}
