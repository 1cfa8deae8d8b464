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

/** The observation after reading `lease` at local time `now`: unchanged record, unchanged time. Pure. */
export function observeLease(previous: LeaseObservation | undefined, lease: LeaseRead | undefined, now: number): LeaseObservation {
  const spec = lease?.spec;
  const record = JSON.stringify([spec?.holderIdentity ?? "", timeMs(spec?.renewTime) || 0, lease?.metadata?.resourceVersion ?? ""]);
  return previous?.record === record ? previous : { record, at: now };
}

/**
 * The next step of client-go's leader election for `identity`, from the Lease as read (undefined:
 * there is none) and when this replica last saw it change (`observedAt`, its own clock). A candidate
 * takes a lease that is free (no holder: released), its own, or expired: unchanged for the
 * leaseDurationSeconds the holder declared (this replica's `durationMs` if none), by the local clock;
 * otherwise it waits. Pure: `now` and `observedAt` are arguments.
 */
export function leaseStep(current: V1LeaseSpec | undefined, exists: boolean, identity: string, durationMs: number, now: number, observedAt: number): LeaseStep {
  const renewal = { holderIdentity: identity, leaseDurationSeconds: seconds(durationMs), renewTime: microTime(now) };
  if (!exists) return { kind: "create", spec: { ...renewal, acquireTime: microTime(now), leaseTransitions: 0 } };
  const held = current?.holderIdentity ?? "";
  const declaredMs = current?.leaseDurationSeconds ? current.leaseDurationSeconds * 1000 : durationMs;
  const expired = now - observedAt > declaredMs;
  if (held && held !== identity && !expired) return { kind: "wait", holder: held };
  const taking = held !== identity;
  const spec: V1LeaseSpec = { ...current, ...renewal };
  if (taking) Object.assign(spec, { acquireTime: microTime(now), leaseTransitions: (current?.leaseTransitions ?? 0) + 1 });
  return { kind: "update", spec, taking };
}

/** What this replica last wrote to the Lease: the record its release may clear. */
export interface LeaseWritten {
  resourceVersion: string | undefined;
  acquireTime: number;
}

/**
 * Whether a release may clear `lease`: only while it is still this replica's tenure (its identity
 * holds it, and the record is the one it last wrote: the same resourceVersion, or the same
 * acquireTime when the write's resourceVersion is unknown). A record someone else wrote since (a
 * restarted replica with the same fixed identity) is left alone: it expires instead. Pure.
 */
export function mayRelease(lease: LeaseRead | undefined, identity: string, written: LeaseWritten | undefined): boolean {
  if (!lease?.spec || !written || lease.spec.holderIdentity !== identity) return false;
  if (written.resourceVersion !== undefined) return lease.metadata?.resourceVersion === written.resourceVersion;
  return timeMs(lease.spec.acquireTime) === written.acquireTime;
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
