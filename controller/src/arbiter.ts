import { CidrSet, embeddedIPv4, escalatedSeconds, newDecision, parseCidr, specialAddressReason, type BanSignal, type Cidr } from "@fleetwall/api";
import type { BanPlan, Refusal } from "./ban-plan.js";
import type { HostAddressRule } from "./host-networks.js";
import type { ProtectedCode, SignalRefusalCode } from "./signal-refusals.js";

export interface ArbiterConfig {
  /**
   * Distinct hosts that must report an address within `reportWindowSeconds` for a quorum: what one
   * host alone may not cause (a prefix broader than one address, a ban longer than
   * `soloMaxBanSeconds`, a ban past its reporter's budget) needs a quorum or an operator.
   */
  minReporters: number;
  reportWindowSeconds: number;
  /** Longest ban the arbiter grants with a quorum, whatever a jail asks for. */
  maxBanSeconds: number;
  /** Longest fleet ban one reporting host can cause alone. */
  soloMaxBanSeconds: number;
  /** Fleet bans one reporting host can cause alone in any 60 s (a sliding window); past it, its detections stay local. */
  soloBudgetPerMinute: number;
  /** Broadest prefixes any decision may have, an operator's too (no /0): IPv4 and IPv6. */
  minPrefix: { ip: number; ip6: number };
  /** Addresses never banned: NATS servers, controllers, operators' --protect. */
  protect: Cidr[];
  /** Where a registered address must be to be protected as its host's own (none: the default networks). */
  hostAddresses?: HostAddressRule;
}

/** What must never be banned, as lists of networks (each list kept by its owner until it changes). */
export interface Protected {
  /** Allowlisted networks (BanLists of type Allow). */
  allow: readonly Cidr[];
  /** The fleet's own host addresses (single addresses only). */
  hosts: readonly Cidr[];
  /** The control plane: NATS servers (resolved), the controller, --protect. */
  controlPlane: readonly Cidr[];
  /** Networks agents manage their hosts from (--ssh-source): never banned automatically. */
  management: readonly Cidr[];
}

export interface ArbiterView extends Protected {
  /** Offences of the current decision of the same list and address (escalation), 0 when none. */
  previousOffences: number;
  /** When the current decision of the same list and address ends (ms; null: never); undefined when there is none. */
  previousExpiresAtMs?: number | null | undefined;
  /** Hosts that reported this address, with when (ms). */
  reporters: ReadonlyMap<string, number>;
  /** Fleet bans the signal's reporter may still cause alone this minute. */
  soloBudgetLeft: number;
}

/** A signal's refusal: the words, and the code the metric counts it by. */
export type SignalRefusal = Refusal & { code: SignalRefusalCode };

/** A plan for one signal; `solo` when it spends its reporter's budget. */
export type SignalPlan = Omit<BanPlan, "refusals"> & { refusals: SignalRefusal[]; solo: boolean };

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

/**
 * Why an address or CIDR must never be banned (a code and the words), or undefined when it may be.
 * Pure. `automatic` (a jail's detection) also protects the agents' management networks; an operator
 * may ban those.
 */
export function protection(cidr: Cidr, view: Protected, config: Pick<ArbiterConfig, "minPrefix">, automatic = false): { code: ProtectedCode; reason: string } | undefined {
  const min = config.minPrefix[cidr.family];
  if (cidr.prefix < min) return { code: "prefix-too-broad", reason: `prefix /${cidr.prefix} is broader than the minimum /${min}` };
  const special = specialAddressReason(cidr);
  if (special) return { code: "special-address", reason: special };
  const own = protectedAs(cidr, view, automatic);
  if (own) return own;
  // the IPv6 forms of an IPv4 address (NAT64, 6to4, Teredo) are a ban of that address
  for (const e of embeddedIPv4(cidr)) {
    const why = protectedAs(e.v4, view, automatic);
    if (why) return { code: why.code, reason: `${why.reason}: ${e.v4.text} in its ${e.what} form` };
  }
  return undefined;
}

/** Which protected list `cidr` overlaps (is in, or covers a member of), if any. Pure. */
function protectedAs(cidr: Cidr, view: Protected, automatic: boolean): { code: ProtectedCode; reason: string } | undefined {
  const touches = (nets: readonly Cidr[]) => setOf(nets).overlaps(cidr);
  if (touches(view.allow)) return { code: "allowlisted", reason: "allowlisted" };
  if (touches(view.hosts)) return { code: "fleet-host", reason: "a fleet host" };
  if (touches(view.controlPlane)) return { code: "control-plane", reason: "the control plane" };
  if (automatic && touches(view.management)) return { code: "management-network", reason: "a management network" };
  return undefined;
}

/** The words of `protection`: why an address or CIDR must never be banned, or undefined. */
export const protectedReason = (cidr: Cidr, view: Protected, config: Pick<ArbiterConfig, "minPrefix">, automatic = false): string | undefined =>
  protection(cidr, view, config, automatic)?.reason;

const isSingle = (c: Cidr) => c.prefix === (c.family === "ip" ? 32 : 128);
const refuse = (cidr: string, code: SignalRefusalCode, reason: string): SignalPlan => ({ puts: [], deletes: [], refusals: [{ cidr, code, reason }], solo: false });

/**
 * Turns one jail signal into a plan: a fleet decision, or a refusal that says why. Pure; time is
 * `nowMs`. One reporter alone gets at most a single address, for at most `soloMaxBanSeconds`, within
 * its budget; a quorum of `minReporters` hosts gets up to `maxBanSeconds` and `minPrefix`.
 */
export function arbitrate(signal: BanSignal, view: ArbiterView, config: ArbiterConfig, nowMs: number): SignalPlan {
  let addr: Cidr;
  try {
    addr = parseCidr(signal.address);
  } catch {
    return refuse(signal.address, "not-an-address", "not an address");
  }
  const why = protection(addr, view, config, true);
  if (why) return refuse(addr.text, why.code, why.reason);
  const since = nowMs - config.reportWindowSeconds * 1000;
  const reporters = [...view.reporters.entries()].filter(([, at]) => at >= since).map(([h]) => h).sort();
  const quorum = reporters.length >= config.minReporters;
  const offences = view.previousOffences + 1;
  const cap = Math.min(config.maxBanSeconds, signal.increment?.maxSeconds ?? Number.POSITIVE_INFINITY);
  let seconds = escalatedSeconds(signal.banSeconds, signal.increment, offences, cap);
  if (!quorum) {
    const short = `${reporters.length} of ${config.minReporters} reporting hosts`;
    if (!isSingle(addr)) return refuse(addr.text, "needs-quorum", `a /${addr.prefix} needs a quorum: ${short}`);
    if (view.soloBudgetLeft <= 0) return refuse(addr.text, "over-budget", `over budget: ${signal.hostId} alone may cause ${config.soloBudgetPerMinute} fleet bans in any 60 s (${short}); kept local`);
    seconds = Math.min(seconds, config.soloMaxBanSeconds);
  }
  // a report never shortens a ban in force (one host re-reporting after the window cannot cut a quorum's 30 days to an hour)
  const held = view.previousExpiresAtMs;
  if (held === null || (held !== undefined && held >= nowMs + seconds * 1000)) return refuse(addr.text, "banned-longer", "banned already, for longer");
  const decision = newDecision({
    list: `jail-${signal.jail}`,
    cidr: addr.text,
    reason: `${signal.failures} failures in jail ${signal.jail} on ${signal.hostId}`,
    scenario: signal.jail,
    origins: reporters,
    createdAtMs: nowMs,
    expiresAtMs: nowMs + seconds * 1000,
    offences,
    source: "jail",
  });
  return { puts: [decision], deletes: [], refusals: [], solo: !quorum };
}
