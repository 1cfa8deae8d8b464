/**
 * Waiting, the one way: every backoff loop of both processes goes through `retry`, and every wait
 * through `delay`, so every wait ends when the process is told to stop.
 */

/** Why a wait ended early: the signal it honoured aborted. */
export class AbortedError extends Error {
  override name = "AbortedError";
}

/** The error an aborted wait rejects with: the signal's reason when it is one, else an AbortedError. */
export function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new AbortedError("stopped", { cause: signal.reason });
}

/**
 * Resolves after `ms` (true), or as soon as `signal` aborts (false); never rejects. `ref: false`
 * lets the process exit while only this wait is left.
 */
export function delay(ms: number, signal: AbortSignal, options: { ref?: boolean } = {}): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (elapsed: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      resolve(elapsed);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    if (options.ref === false) timer.unref();
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * `promise`, unless `signal` aborts first: then rejects with abortError(signal). `late` is handed a
 * value that arrives after that (a connection made after all), so it can be closed.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, late?: (value: T) => void): Promise<T> {
  if (signal.aborted) {
    promise.then((v) => late?.(v), () => undefined);
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const onAbort = () => {
      settled = true;
      reject(abortError(signal));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        if (settled) late?.(value);
        else resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        if (!settled) reject(error);
      },
    );
  });
}

export interface RetryOptions<T = unknown> {
  /** Ends the retrying: the wait in progress stops and retry rejects with abortError(signal). */
  signal: AbortSignal;
  /** The first wait (ms); each next one is `factor` times longer, up to `maxMs`. */
  initialMs?: number;
  maxMs?: number;
  factor?: number;
  /** Each wait varies by up to this fraction either way, so a fleet does not retry in step. */
  jitter?: number;
  /** Errors that are not worth another try are thrown at once (default: every error is retried). */
  retryIf?: (error: unknown) => boolean;
  /** Hears of each failure that will be retried, and how long the wait before the next try is. */
  onRetry?: (error: unknown, retryInMs: number, attempt: number) => void;
  /** false: the waits do not keep the process alive. */
  ref?: boolean;
  /** Handed a value `fn` resolves with after the signal aborted (a connection to close). */
  late?: (value: T) => void;
}

/** The waits of a backoff: initial, ×factor, … up to max, each jittered. Pure, for tests. */
export function backoffMs(attempt: number, options: Pick<RetryOptions<unknown>, "initialMs" | "maxMs" | "factor" | "jitter">, random = Math.random): number {
  const { initialMs = 200, maxMs = 5_000, factor = 2, jitter = 0 } = options;
  const base = Math.min(maxMs, initialMs * factor ** Math.max(0, attempt - 1));
  return Math.round(base * (1 + jitter * (2 * random() - 1)));
}

/**
 * Runs `fn` until it resolves, waiting with exponential backoff between failures. Rejects with the
 * error when `retryIf` refuses it, and with abortError(signal) once the signal aborts (`fn` is not
 * started again after that; one in progress is not awaited).
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions<T>): Promise<T> {
  const { signal } = options;
  for (let attempt = 1; ; attempt++) {
    if (signal.aborted) throw abortError(signal);
    try {
      return await untilAborted(fn(attempt), signal, options.late);
    } catch (error) {
      if (signal.aborted) throw abortError(signal);
      if (options.retryIf && !options.retryIf(error)) throw error;
      const wait = backoffMs(attempt, options);
      options.onRetry?.(error, wait, attempt);
      if (!(await delay(wait, signal, { ref: options.ref ?? true }))) throw abortError(signal);
    }
  }
}

/**
 * Runs `fn` every `ms` until `signal` aborts, one run at a time (a slow run delays the next); a run
 * that fails goes to `onError` and the next comes as planned. For use as a supervisor's runnable.
 */
export async function every(ms: number, signal: AbortSignal, fn: () => Promise<void> | void, onError: (error: unknown) => void): Promise<void> {
  while (await delay(ms, signal)) {
    try {
      await fn();
    } catch (error) {
      onError(error);
    }
  }
}
