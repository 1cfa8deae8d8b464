import type { Logger } from "pino";
import { delay, untilAborted } from "./retry.js";

/** Something that runs until its signal aborts (then returns soon), or fails by rejecting. */
export type Runnable = (signal: AbortSignal) => Promise<void>;

/** A runnable, or the setup, failed: the process stops because of it. */
export class RunnableFailedError extends Error {
  override name = "RunnableFailedError";
  constructor(readonly runnable: string, cause: unknown) {
    super(`${runnable}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Shutdown took longer than its grace period: these parts had not finished. */
export class ShutdownTimeoutError extends Error {
  override name = "ShutdownTimeoutError";
  constructor(readonly pending: readonly string[], graceMs: number) {
    super(`shutdown did not finish within ${Math.round(graceMs / 100) / 10} s: still running: ${pending.join(", ")}`);
  }
}

export interface SupervisorOptions {
  log: Logger;
  /** How long the runnables and cleanups together may take to stop once stopping began. */
  graceMs: number;
}

/**
 * The shape of controller-runtime's Manager. A process's setup makes its resources one by one,
 * registering each one's cleanup as it is made (`resource`, `defer`), and starts its runnables
 * (`run`). The first failure (of setup or of a runnable) aborts everything else; so does the parent
 * signal (SIGTERM). Stopping waits for the runnables, then runs the cleanups in reverse order, all
 * within the grace period.
 */
export class Supervisor {
  readonly #ac = new AbortController();
  readonly #running = new Map<string, Promise<void>>();
  readonly #cleanups: { name: string; fn: () => Promise<void> | void }[] = [];
  /**
   * Each runnable's own signal, aborted with the process's: one listener on the process's signal
   * for all of them, where a listener per runnable (a watch, a timer, a wait) passed Node's limit
   * of ten and printed MaxListenersExceededWarning on every start.
   */
  readonly #children = new Set<AbortController>();
  #failure: RunnableFailedError | undefined;
  #settled: () => void = () => undefined;

  constructor(private readonly options: SupervisorOptions) {
    this.#ac.signal.addEventListener("abort", () => {
      for (const child of this.#children) child.abort(this.#ac.signal.reason);
    }, { once: true });
  }

  /** Aborts when the process stops: on the parent's signal or the first failure. */
  get signal(): AbortSignal {
    return this.#ac.signal;
  }

  /** The first failure, if any. */
  get failure(): RunnableFailedError | undefined {
    return this.#failure;
  }

  /** Stops everything because of `error` (the first failure wins). */
  fail(name: string, error: unknown): void {
    if (this.signal.aborted && !this.#failure && isAbort(error, this.signal)) return;
    this.#failure ??= error instanceof RunnableFailedError ? error : new RunnableFailedError(name, error);
    this.#ac.abort(this.#failure);
  }

  /** Stops everything, cleanly. */
  stop(reason?: unknown): void {
    this.#ac.abort(reason);
  }

  /** Starts a runnable now; its rejection (other than by the stop itself) fails the process. */
  run(name: string, runnable: Runnable): void {
    if (this.#running.has(name)) throw new Error(`runnable ${name} added twice`);
    if (this.signal.aborted) return; // stopping already: nothing new starts
    const own = new AbortController();
    this.#children.add(own);
    const done = Promise.resolve()
      .then(() => runnable(own.signal))
      .then(
        () => this.options.log.debug({ runnable: name }, "runnable finished"),
        (error: unknown) => this.fail(name, error),
      )
      .finally(() => {
        this.#children.delete(own);
        this.#running.delete(name);
        if (this.#running.size === 0) this.#settled();
      });
    this.#running.set(name, done);
  }

  /** Registers a cleanup, run in reverse order of registration when the process stops. */
  defer(name: string, fn: () => Promise<void> | void): void {
    this.#cleanups.push({ name, fn });
  }

  /**
   * Makes a resource, giving up when the process stops meanwhile (a resource made after all is
   * closed at once), and registers its cleanup.
   */
  async resource<T>(name: string, make: (signal: AbortSignal) => Promise<T>, close: (value: T) => Promise<void> | void): Promise<T> {
    const made = make(this.signal).catch((error: unknown) => {
      throw this.signal.aborted ? error : new RunnableFailedError(name, error);
    });
    const value = await untilAborted(made, this.signal, (late) => void Promise.resolve().then(() => close(late)).catch(() => undefined));
    this.defer(name, () => close(value));
    return value;
  }

  /** One step of the start that makes nothing to clean up (a check); its failure carries `name`. */
  step<T>(name: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.resource(name, fn, () => undefined);
  }

  /**
   * Runs `setup`, then waits until the process stops (or every runnable has finished), and stops it.
   * Resolves on a clean stop; rejects with the first failure, or ShutdownTimeoutError.
   */
  async supervise(parent: AbortSignal, setup: (s: Supervisor) => Promise<void>): Promise<void> {
    const onParent = () => this.stop(parent.reason);
    if (parent.aborted) onParent();
    parent.addEventListener("abort", onParent, { once: true });
    const setupDone = setup(this).then(
      () => undefined,
      (error: unknown) => this.fail("start", error),
    );
    try {
      await Promise.race([setupDone.then(() => this.#allSettled()), stopped(this.signal)]);
      this.stop();
      const deadline = Date.now() + this.options.graceMs;
      const pending = await this.#drain(setupDone, deadline);
      if (pending.length > 0 && this.#failure) this.options.log.warn({ pending, graceMs: this.options.graceMs }, "shutdown did not finish in time");
      if (this.#failure) throw this.#failure;
      if (pending.length > 0) throw new ShutdownTimeoutError(pending, this.options.graceMs);
    } finally {
      parent.removeEventListener("abort", onParent);
    }
  }

  #allSettled(): Promise<void> {
    if (this.#running.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#settled = resolve));
  }

  /** Waits for setup, then the runnables, then runs the cleanups; returns what did not finish in time. */
  async #drain(setupDone: Promise<void>, deadline: number): Promise<string[]> {
    const pending = new Set<string>();
    const track = (name: string, p: Promise<unknown>) => {
      pending.add(name);
      return p.finally(() => pending.delete(name));
    };
    // the start first: what it still adds (a runnable after a step that could not be abandoned) is
    // then among the runnables waited for
    if (!(await within(track("start", setupDone), deadline))) return [...pending, ...this.#running.keys()];
    if (!(await within(Promise.all([...this.#running].map(([name, p]) => track(name, p))), deadline))) return [...pending];
    for (const { name, fn } of this.#cleanups.reverse()) {
      const closing = track(name, Promise.resolve().then(fn)).catch((error: unknown) => this.options.log.warn({ resource: name, err: error }, "cleanup failed"));
      if (!(await within(closing, deadline))) return [...pending];
    }
    return [];
  }
}

function stopped(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true })));
}

/** Whether `p` settles before `deadline` (ms since the epoch). */
async function within(p: Promise<unknown>, deadline: number): Promise<boolean> {
  const ac = new AbortController();
  const timeout = delay(Math.max(0, deadline - Date.now()), ac.signal).then((elapsed) => !elapsed);
  const finished = p.then(() => true, () => true);
  const r = await Promise.race([finished, timeout]);
  ac.abort();
  return r;
}

/** An error that is the stop itself (the signal's reason, or an abort), not a failure. */
export function isAbort(error: unknown, signal: AbortSignal): boolean {
  if (!signal.aborted) return false;
  if (error === signal.reason) return true;
  const name = (error as { name?: string } | undefined)?.name;
  return name === "AbortError" || name === "AbortedError";
}
