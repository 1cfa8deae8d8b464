import { CoordinationV1Api, type KubeConfig, type V1Lease } from "@kubernetes/client-node";
import { backoffMs, delay } from "@fleetwall/runtime";
import type { Logger } from "pino";
import { kubeFailure, type KubeCall } from "./kube-errors.js";
import { isOwnLease, leaseStep, observeLease, releasedSpec, termOf, type LeaseObservation, type LeaseTerm } from "./lease-record.js";

export class LeadershipLostError extends Error {
  override name = "LeadershipLostError";
}

export interface LeaseOptions {
  namespace: string;
  name: string;
  /** This replica's name (the pod name in Kubernetes). */
  identity: string;
  /** How long a lease holds without renewal; a standby takes over after that. */
  durationMs: number;
  /** How often the holder renews, and a standby retries. */
  retryMs: number;
  /** The leader's work for `run`: runs while this replica holds the lease, until `signal` aborts. */
  lead?: (signal: AbortSignal) => Promise<void>;
  log: Logger;
  /** The local clock (Date.now); tests skew it. */
  now?: () => number;
}

/** Failed attempts back off up to this (a free lease is still retried every retryMs). */
const MAX_BACKOFF_MS = 30_000;

/**
 * Leader election on a coordination.k8s.io Lease, as client-go's leaderelection does it, as a
 * runnable: `run(signal)` waits for the lease, then runs `lead` while renewing it every `retryMs`.
 * - A clean stop (signal aborted) stops the work, then releases the lease, so a standby leads on its
 *   next retry instead of after the lease duration.
 * - Work that fails stops the renewal and releases the lease too (nothing leads behind a held lease);
 *   `run` rejects with the work's error.
 * - A lease that cannot be renewed within the duration, or that another replica took, stops the work;
 *   `run` rejects with LeadershipLostError.
 * Under a supervisor that runs the leader's work as runnables of its own, the parts are `acquire`
 * and `hold` (renews until aborted, then releases): the supervisor aborts `hold` when work fails.
 * API errors are logged as one line (code, reason, object, fix) and retried with backoff.
 */
export class LeaderElector {
  readonly #api: CoordinationV1Api;
  /** When this replica last saw the Lease record change, by its own clock (expiry is judged from it). */
  #observed: LeaseObservation | undefined;
  /** The term this process took the lease for (undefined: it holds none). */
  #term: LeaseTerm | undefined;
  /** The local clock; a test passes a skewed one. */
  readonly #now: () => number;
  isLeader = false;
  transitions = 0;

  constructor(kc: KubeConfig, private readonly options: LeaseOptions) {
    this.#api = kc.makeApiClient(CoordinationV1Api);
    this.#now = options.now ?? Date.now;
  }

  async run(signal: AbortSignal): Promise<void> {
    if (!(await this.acquire(signal))) return;
    const leading = new AbortController();
    const stop = () => leading.abort();
    signal.addEventListener("abort", stop, { once: true });
    let failure: unknown;
    const lead = this.options.lead ?? (async () => undefined);
    const work = lead(leading.signal).catch((error: unknown) => void (failure ??= error)).finally(stop);
    const renewal = this.#renew(leading.signal).catch((error: unknown) => void (failure ??= error)).finally(stop);
    try {
      await Promise.all([work, renewal]);
    } finally {
      signal.removeEventListener("abort", stop);
      this.isLeader = false;
    }
    if (!(failure instanceof LeadershipLostError)) await this.#release();
    if (failure !== undefined) throw failure;
  }

  /** Resolves true once this replica holds the lease, false when `signal` aborted first. */
  acquire(signal: AbortSignal): Promise<boolean> {
    return this.#acquire(signal);
  }

  /**
   * Renews the held lease until `signal` aborts, then releases it; rejects with LeadershipLostError
   * (and does not release) when the lease cannot be kept.
   */
  async hold(signal: AbortSignal): Promise<void> {
    try {
      await this.#renew(signal);
    } finally {
      this.isLeader = false;
    }
    await this.#release();
  }

  /** Resolves true once this replica holds the lease, false when aborted first. */
  async #acquire(signal: AbortSignal): Promise<boolean> {
    const { log, identity, name, namespace, retryMs } = this.options;
    let failures = 0;
    let waitingFor: string | undefined;
    while (!signal.aborted) {
      try {
        const step = await this.#step();
        if (step === true) {
          this.isLeader = true;
          log.info({ lease: `${namespace}/${name}`, identity }, "leader election won");
          return true;
        }
        // a lost race (409) is another replica's write: its holder shows on the next read
        if (step !== CONFLICT && step !== waitingFor) log.info({ lease: `${namespace}/${name}`, holder: step }, "lease held by another replica");
        if (step !== CONFLICT) waitingFor = step;
        failures = 0;
      } catch (error) {
        failures += 1;
        log.warn({ ...this.#failure(error), retryInMs: backoff(retryMs, failures) }, "lease not acquired; retrying");
      }
      await delay(failures ? backoff(retryMs, failures) : retryMs, signal);
    }
    return false;
  }

  /**
   * Renews until `signal` aborts; rejects with LeadershipLostError when another identity holds the
   * lease, or it could not be renewed for the lease duration. A write refused with 409 Conflict
   * (someone wrote the record meanwhile) is not a loss: the lease is read again at once and renewed
   * if this replica still holds it.
   */
  async #renew(signal: AbortSignal): Promise<void> {
    const { durationMs, retryMs, name, log } = this.options;
    let renewed = this.#now();
    while (!signal.aborted) {
      await delay(retryMs, signal);
      if (signal.aborted) return;
      try {
        let step = await this.#step();
        if (step === CONFLICT) step = await this.#step();
        if (step === CONFLICT) log.warn({ lease: `${this.options.namespace}/${name}` }, "lease renewal conflicted twice; retrying");
        else if (step !== true) throw new LeadershipLostError(`lease ${name} is held by ${step}`);
        else renewed = this.#now();
      } catch (error) {
        if (error instanceof LeadershipLostError) throw error;
        log.warn({ ...this.#failure(error) }, "lease not renewed; retrying");
      }
      if (this.#now() - renewed > durationMs) throw new LeadershipLostError(`lease ${name} not renewed for ${durationMs} ms`);
    }
  }

  /**
   * One read and, when the lease is ours to take or renew, one write: true if held now, CONFLICT
   * when the write lost a race (409: the record changed since the read), else the holder.
   */
  async #step(): Promise<true | string | typeof CONFLICT> {
    const { namespace, name, identity, durationMs } = this.options;
    let lease: V1Lease | undefined;
    try {
      lease = await this.#api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if ((error as { code?: number }).code !== 404) throw new LeaseCallError({ verb: "get", resource: "leases", namespace, name }, error);
    }
    const now = this.#now();
    this.#observed = observeLease(this.#observed, lease, now);
    const step = leaseStep(lease?.spec, lease !== undefined, identity, durationMs, now, this.#observed.at, this.#term);
    if (step.kind === "wait") return step.holder;
    let wrote: V1Lease;
    try {
      wrote =
        step.kind === "create"
          ? await this.#api.createNamespacedLease({ namespace, body: { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name, namespace }, spec: step.spec } })
          : await this.#api.replaceNamespacedLease({ name, namespace, body: { ...(lease as V1Lease), spec: step.spec } });
    } catch (error) {
      // another replica (or anyone) created or wrote it since the read
      if ((error as { code?: number }).code === 409) return CONFLICT;
      throw new LeaseCallError({ verb: step.kind, resource: "leases", namespace, name }, error);
    }
    this.#term = termOf(step.spec);
    this.#observed = observeLease(this.#observed, wrote, now);
    if (step.kind === "create" || step.taking) this.transitions += 1;
    return true;
  }

  /** Gives the lease up if this process still holds its own term; bounded, so shutdown never hangs on it. */
  async #release(): Promise<void> {
    const { namespace, name, identity, retryMs, log } = this.options;
    const attempt = async () => {
      const lease = await this.#api.readNamespacedLease({ name, namespace });
      // only the term this process took: another process with the same identity may hold it now
      if (!isOwnLease(lease.spec, identity, this.#term)) return;
      await this.#api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: releasedSpec(lease.spec, this.#now()) } });
      this.#term = undefined;
      log.info({ lease: `${namespace}/${name}`, identity }, "lease released");
    };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(retryMs, 5000))));
    try {
      await Promise.race([attempt(), timeout]);
    } catch (error) {
      log.warn({ ...kubeFailure(error, { verb: "update", resource: "leases", namespace, name }) }, "lease not released; a standby takes over when it expires");
    } finally {
      clearTimeout(timer);
    }
  }

  #failure(error: unknown) {
    return error instanceof LeaseCallError ? kubeFailure(error.cause, error.call) : kubeFailure(error, { verb: "get", resource: "leases", namespace: this.options.namespace, name: this.options.name });
  }
}

/** A write that lost a race: the record changed between the read and the write (409 Conflict). */
const CONFLICT = Symbol("conflict");

/** A Lease call that failed, with what it was (for the log line). */
class LeaseCallError extends Error {
  override name = "LeaseCallError";
  constructor(readonly call: KubeCall, cause: unknown) {
    super(`${call.verb} lease failed`, { cause });
  }
}

/** Failed attempts back off from retryMs, doubling, up to MAX_BACKOFF_MS: the runtime's backoff. */
function backoff(retryMs: number, failures: number): number {
  return backoffMs(failures, { initialMs: retryMs, maxMs: Math.max(retryMs, MAX_BACKOFF_MS) });
}
