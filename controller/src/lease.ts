import { CoordinationV1Api, type KubeConfig, type V1Lease } from "@kubernetes/client-node";
import type { Logger } from "pino";

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
  log: Logger;
}

/**
 * Leader election on a coordination.k8s.io Lease, as client-go's leaderelection does it: the holder
 * renews `renewTime` every `retryMs`; a candidate takes a lease that is free, its own, or expired
 * (renewTime + duration in the past), with the lease's resourceVersion as a guard against two
 * taking it at once. A holder that cannot renew within the duration has lost it.
 */
export class LeaderElector {
  readonly #api: CoordinationV1Api;
  isLeader = false;
  transitions = 0;

  constructor(kc: KubeConfig, private readonly options: LeaseOptions) {
    this.#api = kc.makeApiClient(CoordinationV1Api);
  }

  /** Resolves once this replica holds the lease; retries until then (or until aborted). */
  async acquire(signal: AbortSignal): Promise<void> {
    const { log, identity } = this.options;
    while (!signal.aborted) {
      try {
        if (await this.#tryAcquireOrRenew()) {
          this.isLeader = true;
          log.info({ lease: this.options.name, identity }, "leader election won");
          return;
        }
      } catch (error) {
        log.warn({ err: error }, "lease not readable; retrying");
      }
      await sleep(this.options.retryMs, signal);
    }
    throw new LeadershipLostError("aborted before the lease was acquired");
  }

  /** Renews the lease until aborted; rejects with LeadershipLostError when it cannot be kept. */
  async hold(signal: AbortSignal): Promise<void> {
    let renewed = Date.now();
    while (!signal.aborted) {
      await sleep(this.options.retryMs, signal);
      if (signal.aborted) break;
      try {
        if (await this.#tryAcquireOrRenew()) renewed = Date.now();
        else throw new LeadershipLostError(`lease ${this.options.name} is held by another replica`);
      } catch (error) {
        if (error instanceof LeadershipLostError) throw this.#lost(error);
        this.options.log.warn({ err: error }, "lease not renewed; retrying");
      }
      if (Date.now() - renewed > this.options.durationMs) throw this.#lost(new LeadershipLostError(`lease ${this.options.name} not renewed for ${this.options.durationMs} ms`));
    }
  }

  #lost(error: LeadershipLostError): LeadershipLostError {
    this.isLeader = false;
    return error;
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity, durationMs } = this.options;
    const now = new Date();
    let lease: V1Lease | undefined;
    try {
      lease = await this.#api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if ((error as { code?: number }).code !== 404) throw error;
    }
    const spec = { holderIdentity: identity, leaseDurationSeconds: Math.max(1, Math.ceil(durationMs / 1000)), renewTime: now };
    if (!lease) {
      try {
        await this.#api.createNamespacedLease({ namespace, body: { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name, namespace }, spec: { ...spec, acquireTime: now, leaseTransitions: 0 } } });
        this.transitions += 1;
        return true;
      } catch (error) {
        if ((error as { code?: number }).code === 409) return false; // another replica created it first
        throw error;
      }
    }
    const held = lease.spec?.holderIdentity;
    const renewTime = lease.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : 0;
    const expired = renewTime + (lease.spec?.leaseDurationSeconds ?? 0) * 1000 < now.getTime();
    if (held && held !== identity && !expired) return false;
    const taking = held !== identity;
    try {
      await this.#api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          ...lease,
          spec: {
            ...lease.spec,
            ...spec,
            ...(taking ? { acquireTime: now, leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1 } : {}),
          },
        },
      });
    } catch (error) {
      if ((error as { code?: number }).code === 409) return false; // someone else wrote it meanwhile
      throw error;
    }
    if (taking) this.transitions += 1;
    return true;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
