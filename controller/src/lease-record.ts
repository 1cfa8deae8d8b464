import { V1MicroTime, type V1LeaseSpec } from "@kubernetes/client-node";

/** What a candidate does with the Lease it read: take or renew it (with this spec), or wait. */
export type LeaseStep = { kind: "create"; spec: V1LeaseSpec } | { kind: "update"; spec: V1LeaseSpec; taking: boolean } | { kind: "wait"; holder: string };

/**
 * When this replica last saw the Lease record change (its holder, renewTime or resourceVersion), on
 * ITS OWN clock. Expiry is judged from this, never from the renewTime another replica wrote with
 * its clock: a replica whose clock runs ahead (or behind) then neither steals a healthy lease nor
 * waits forever for a dead one. This is client-go's observedTime.
 */
export interface LeaseObservation {
  record: string;
  at: number;
}

/** The Lease as read: its spec and resourceVersion (undefined: there is none). */
export interface LeaseRead {
  spec?: V1LeaseSpec;
  metadata?: { resourceVersion?: string };
}

/**
 * A Lease time as the API server accepts it: MicroTime, RFC 3339 with exactly six fractional digits
 * (`2026-12-05T23:23:47.387000Z`). A plain Date serialises with three and is refused with 400.
 */
export function microTime(ms: number): V1MicroTime {
  return new V1MicroTime(ms);
}

/** A MicroTime as read (a Date, or its text), in ms; NaN when absent. */
export function timeMs(t: Date | string | undefined): number {
  return t === undefined ? Number.NaN : new Date(t).getTime();
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** The term a process took the lease for: what it wrote when it took it (acquireTime, leaseTransitions). */
export interface LeaseTerm {
  acquireMs: number;
  transitions: number;
}

/** The term a spec this process wrote when it took the lease starts. */
export function termOf(spec: V1LeaseSpec): LeaseTerm {
  return { acquireMs: spec.acquireTime ? new Date(spec.acquireTime).getTime() : 0, transitions: spec.leaseTransitions ?? 0 };
}

/**
 * Whether the lease as read is this process's own: its identity AND the term it took it for. Two
 * processes that share an identity (two hand-run controllers on one machine, a pod name reused)
 * each hold only the term they wrote: neither renews nor releases the other's.
 */
export function isOwnLease(current: V1LeaseSpec | undefined, identity: string, mine: LeaseTerm | undefined): boolean {
  if (!mine || current?.holderIdentity !== identity) return false;
  const now = termOf(current);
  return now.acquireMs === mine.acquireMs && now.transitions === mine.transitions;
}

/** The observation after reading `lease` at local time `now`: unchanged record, unchanged time. Pure. */
export function observeLease(previous: LeaseObservation | undefined, lease: LeaseRead | undefined, now: number): LeaseObservation {
  const spec = lease?.spec;
  const record = JSON.stringify([spec?.holderIdentity ?? "", timeMs(spec?.renewTime) || 0, lease?.metadata?.resourceVersion ?? ""]);
  return previous?.record === record ? previous : { record, at: now };
}

/**
 * The next step of client-go's leader election for `identity`, from the Lease as read (undefined:
 * there is none) and when this replica last saw it change (`observedAt`, its own clock). A candidate
 * takes a lease that is free (no holder: released), its own (`mine`: the term it took; see
 * isOwnLease), or expired: unchanged for the leaseDurationSeconds the holder declared (this
 * replica's `durationMs` if none), by the local clock; otherwise it waits. Pure: `now` and
 * `observedAt` are arguments.
 */
export function leaseStep(current: V1LeaseSpec | undefined, exists: boolean, identity: string, durationMs: number, now: number, observedAt: number, mine?: LeaseTerm): LeaseStep {
  const renewal = { holderIdentity: identity, leaseDurationSeconds: seconds(durationMs), renewTime: microTime(now) };
  if (!exists) return { kind: "create", spec: { ...renewal, acquireTime: microTime(now), leaseTransitions: 0 } };
  const held = current?.holderIdentity ?? "";
  const declaredMs = current?.leaseDurationSeconds ? current.leaseDurationSeconds * 1000 : durationMs;
  const expired = now - observedAt > declaredMs;
  const ours = isOwnLease(current, identity, mine);
  if (held && !ours && !expired) return { kind: "wait", holder: held === identity ? `${held} (another process with this identity)` : held };
  const taking = !ours;
  const spec: V1LeaseSpec = { ...current, ...renewal };
  if (taking) Object.assign(spec, { acquireTime: microTime(now), leaseTransitions: (current?.leaseTransitions ?? 0) + 1 });
  return { kind: "update", spec, taking };
}

/**
 * The spec that gives a held Lease up, as client-go's ReleaseOnCancel writes it: no holder, a
 * one-second duration and renewTime now, so a standby takes it on its next retry.
 */
export function releasedSpec(current: V1LeaseSpec | undefined, now: number): V1LeaseSpec {
  const spec: V1LeaseSpec = { ...current, leaseDurationSeconds: 1, renewTime: microTime(now), acquireTime: microTime(now) };
  delete spec.holderIdentity;
  return spec;
}
