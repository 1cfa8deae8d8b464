import { CidrSet, SCHEMA_VERSION, parseCidr, type BanDecision, type BanSignal, type Cidr } from "@fleetwall/api";

export interface ArbiterConfig {
  /** Distinct hosts that must report an address within `reportWindowSeconds` before a fleet ban. */
  minReporters: number;
  reportWindowSeconds: number;
  /** Longest ban the arbiter grants, whatever a jail asks for. */
  maxBanSeconds: number;
  /** Broadest prefixes a ban may have (no /0): IPv4 and IPv6. */
  minPrefix: { ip: number; ip6: number };
  /** Addresses never banned: NATS servers, controllers. */
  protect: Cidr[];
}

export interface ArbiterView {
  /** Allowlisted networks (BanLists of type Allow). */
  allow: Cidr[];
  /** The fleet's own host addresses. */
  hosts: Cidr[];
  /** The current decision of the same list and address, if any (for escalation). */
  previous: BanDecision | undefined;
  /** Hosts that reported this address, with when (ms). */
  reporters: ReadonlyMap<string, number>;
}

export type Verdict = { ban: BanDecision } | { skip: string };

/** The lookup set of a list of networks, made once per list (the callers keep their lists until they change). */
const sets = new WeakMap<readonly Cidr[], CidrSet>();

function setOf(nets: readonly Cidr[]): CidrSet {
  let set = sets.get(nets);
  if (!set) {
    set = new CidrSet(nets);
    sets.set(nets, set);
  }
  return set;
}

/** Why an address or CIDR must never be banned, or undefined when it may be. Pure. */
export function protectedReason(cidr: Cidr, view: Pick<ArbiterView, "allow" | "hosts">, config: ArbiterConfig): string | undefined {
  if (cidr.prefix < config.minPrefix[cidr.family]) return `prefix /${cidr.prefix} is broader than the minimum /${config.minPrefix[cidr.family]}`;
  const touches = (nets: readonly Cidr[]) => setOf(nets).overlaps(cidr);
  if (touches(view.allow)) return "allowlisted";
  if (touches(view.hosts)) return "a fleet host";
  if (touches(config.protect)) return "the control plane";
  return undefined;
}

/** Turns one jail signal into a fleet decision, or says why not. Pure; time is `nowMs`. */
export function arbitrate(signal: BanSignal, view: ArbiterView, config: ArbiterConfig, nowMs: number): Verdict {
  let addr: Cidr;
  try {
    addr = parseCidr(signal.address);
  } catch {
    return { skip: "not an address" };
  }
  const why = protectedReason(addr, view, config);
  if (why) return { skip: why };
  const since = nowMs - config.reportWindowSeconds * 1000;
  const reporters = [...view.reporters.entries()].filter(([, at]) => at >= since).map(([h]) => h).sort();
  if (reporters.length < config.minReporters) return { skip: `${reporters.length} of ${config.minReporters} reporting hosts` };
  const prev = view.previous;
  const offences = (prev?.offences ?? 0) + 1;
  const cap = Math.min(config.maxBanSeconds, signal.increment?.maxSeconds ?? Number.POSITIVE_INFINITY);
  const escalated = signal.banSeconds * (signal.increment ? signal.increment.factor ** (offences - 1) : 1);
  const seconds = Math.max(1, Math.round(Math.min(cap, Math.max(signal.banSeconds, escalated))));
  return {
    ban: {
      schemaVersion: SCHEMA_VERSION,
      list: `jail-${signal.jail}`,
      type: "Deny",
      cidr: addr.text,
      reason: `${signal.failures} failures in jail ${signal.jail} on ${signal.hostId}`,
      scenario: signal.jail,
      origins: reporters,
      createdAt: new Date(nowMs).toISOString(),
      expiresAt: new Date(nowMs + seconds * 1000).toISOString(),
      offences,
      source: "jail",
    },
  };
}
