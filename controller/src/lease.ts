import { CoordinationV1Api, type KubeConfig, type V1Lease } from "@kubernetes/client-node";
import { backoffMs, delay } from "@fleetwall/runtime";
import type { Logger } from "pino";
import { kubeFailure, type KubeCall } from "./kube-errors.js";
import { isOwnLease, leaseStep, releasedSpec, termOf, type LeaseTerm } from "./lease-record.js";

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
  isLeader = false;
  transitions = 0;
  /** The term this process took the lease for (undefined: it holds none). */
  #term: LeaseTerm | undefined;

  constructor(kc: KubeConfig, private readonly options: LeaseOptions) {
    this.#api = kc.makeApiClient(CoordinationV1Api);
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
        if (step !== waitingFor) log.info({ lease: `${namespace}/${name}`, holder: step }, "lease held by another replica");
        waitingFor = step;
        failures = 0;
      } catch (error) {
        failures += 1;
        log.warn({ ...this.#failure(error), retryInMs: backoff(retryMs, failures) }, "lease not acquired; retrying");
      }
      await delay(failures ? backoff(retryMs, failures) : retryMs, signal);
    }
    return false;
  }

  /** Renews until `signal` aborts; rejects with LeadershipLostError when the lease cannot be kept. */
  async #renew(signal: AbortSignal): Promise<void> {
    const { durationMs, retryMs, name, log } = this.options;
    let renewed = Date.now();
    while (!signal.aborted) {
      await delay(retryMs, signal);
      if (signal.aborted) return;
      try {
        const step = await this.#step();
        if (step !== true) throw new LeadershipLostError(`lease ${name} is held by ${step}`);
        renewed = Date.now();
      } catch (error) {
        if (error instanceof LeadershipLostError) throw error;
        log.warn({ ...this.#failure(error) }, "lease not renewed; retrying");
      }
      if (Date.now() - renewed > durationMs) throw new LeadershipLostError(`lease ${name} not renewed for ${durationMs} ms`);
    }
  }

  /** One read and, when the lease is ours to take or renew, one write: true if held now, else the holder. */
  async #step(): Promise<true | string> {
    const { namespace, name, identity, durationMs } = this.options;
    let lease: V1Lease | undefined;
    try {
      lease = await this.#api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if ((error as { code?: number }).code !== 404) throw new LeaseCallError({ verb: "get", resource: "leases", namespace, name }, error);
    }
    const step = leaseStep(lease?.spec, lease !== undefined, identity, durationMs, Date.now(), this.#term);
    if (step.kind === "wait") return step.holder;
    try {
      if (step.kind === "create") {
        await this.#api.createNamespacedLease({ namespace, body: { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name, namespace }, spec: step.spec } });
      } else {
        await this.#api.replaceNamespacedLease({ name, namespace, body: { ...(lease as V1Lease), spec: step.spec } });
      }
    } catch (error) {
      // another replica created or wrote it meanwhile: it is theirs this round
      if ((error as { code?: number }).code === 409) return "another replica";
      throw new LeaseCallError({ verb: step.kind, resource: "leases", namespace, name }, error);
    }
    if (step.kind === "create" || step.taking) this.transitions += 1;
    this.#term = termOf(step.spec);
    return true;
  }

  /** Gives the lease up if this replica still holds it; bounded, so shutdown never hangs on it. */
  async #release(): Promise<void> {
    const { namespace, name, identity, retryMs, log } = this.options;
    const attempt = async () => {
      const lease = await this.#api.readNamespacedLease({ name, namespace });
      // only the term this process took: another process with the same identity may hold it now
      if (!isOwnLease(lease.spec, identity, this.#term)) return;
      await this.#api.replaceNamespacedLease({ name, namespace, body: { ...lease, spec: releasedSpec(lease.spec, Date.now()) } });
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
