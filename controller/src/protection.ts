import { cidrContains, embeddedIPv4, parseCidr, type Cidr, type HostRegistration } from "@fleetwall/api";
import { protection, type ArbiterConfig, type Protected } from "./arbiter.js";
import type { BanMirror } from "./ban-mirror.js";

/** Addresses one host may register as its own. */
export const MAX_HOST_ADDRESSES = 64;
/** Management networks of one host that protect fleet-wide (the host itself protects all it has). */
export const MAX_MANAGEMENT_NETWORKS = 4;
/**
 * The broadest management network that protects fleet-wide: a /24 or a /56. A broader one (a /16
 * shields 65,536 addresses) protects only on the host that names it, unless an operator lists it in
 * an Allow BanList.
 */
export const MANAGEMENT_MIN_PREFIX = { ip: 24, ip6: 56 } as const;

const isSingle = (c: Cidr) => c.prefix === (c.family === "ip" ? 32 : 128);

function parseAll(texts: readonly string[]): { ok: Cidr[]; bad: string[] } {
  const ok: Cidr[] = [];
  const bad: string[] = [];
  for (const t of texts) {
    try {
      ok.push(parseCidr(t));
    } catch {
      bad.push(t);
    }
  }
  return { ok, bad };
}

/**
 * What is never banned, and why: registered hosts' own addresses, the control plane (static and
 * resolved from host names), the agents' management networks (for automatic bans) and the
 * allowlists (from the bucket's mirror). A registration may claim only single addresses (/32,
 * /128), at most MAX_HOST_ADDRESSES; of its management networks, at most MAX_MANAGEMENT_NETWORKS
 * no broader than MANAGEMENT_MIN_PREFIX protect fleet-wide.
 */
export class Protection {
  readonly #hosts = new Map<string, Cidr[]>();
  readonly #management = new Map<string, Cidr[]>();
  #hostList: Cidr[] | undefined;
  #managementList: Cidr[] | undefined;
  #resolved: Cidr[] = [];
  #controlPlane: Cidr[];
  /** Registration entries refused, in all. */
  refusedClaims = 0;

  constructor(
    private readonly config: Pick<ArbiterConfig, "minPrefix" | "protect">,
    private readonly mirror: BanMirror,
  ) {
    this.#controlPlane = [...config.protect];
  }

  /** A host's registration (null: gone). Returns the claims refused, with why. */
  setHost(hostId: string, reg: Pick<HostRegistration, "addresses" | "managementSources"> | null): string[] {
    this.#hostList = this.#managementList = undefined;
    if (!reg) {
      this.#hosts.delete(hostId);
      this.#management.delete(hostId);
      return [];
    }
    const problems: string[] = [];
    const addrs = parseAll(reg.addresses);
    for (const b of addrs.bad) problems.push(`address ${b}: not an address`);
    const singles = addrs.ok.filter((c) => isSingle(c) || (problems.push(`address ${c.text}: a host registers single addresses, not networks`), false));
    if (singles.length > MAX_HOST_ADDRESSES) problems.push(`${singles.length} addresses: only the first ${MAX_HOST_ADDRESSES} count`);
    this.#hosts.set(hostId, singles.slice(0, MAX_HOST_ADDRESSES));
    const mgmt = parseAll(reg.managementSources ?? []);
    for (const b of mgmt.bad) problems.push(`management network ${b}: not an address or CIDR`);
    const narrow = mgmt.ok.filter((c) => c.prefix >= MANAGEMENT_MIN_PREFIX[c.family] || (problems.push(`management network ${c.text}: broader than /${MANAGEMENT_MIN_PREFIX[c.family]}, protected only on ${hostId} (an Allow BanList protects it fleet-wide)`), false));
    if (narrow.length > MAX_MANAGEMENT_NETWORKS) problems.push(`${narrow.length} management networks: only the first ${MAX_MANAGEMENT_NETWORKS} protect fleet-wide, the others only on ${hostId}`);
    this.#management.set(hostId, narrow.slice(0, MAX_MANAGEMENT_NETWORKS));
    this.refusedClaims += problems.length;
    return problems;
  }

  /** True when `hostId` has registered (and not gone). */
  registered(hostId: string): boolean {
    return this.#hosts.has(hostId);
  }

  /** The control plane's addresses resolved from host names (NATS servers, the controller itself). */
  setResolved(cidrs: readonly Cidr[]): void {
    const same = cidrs.length === this.#resolved.length && cidrs.every((c, i) => c.text === this.#resolved[i]?.text);
    if (same) return;
    this.#resolved = [...cidrs];
    this.#controlPlane = [...this.config.protect, ...cidrs];
  }

  get view(): Protected {
    this.#hostList ??= [...this.#hosts.values()].flat();
    this.#managementList ??= [...this.#management.values()].flat();
    return { allow: this.mirror.allow(), hosts: this.#hostList, controlPlane: this.#controlPlane, management: this.#managementList };
  }

  /**
   * What every agent must never ban (the fleet's protection list), most important first: the
   * control plane, then each host's addresses; each once. Allow BanLists are not in it: they reach
   * agents as decisions. Nor are management networks: an operator may ban those fleet-wide, and
   * only the host that names them refuses (its own allowlist).
   */
  fleetEntries(): string[] {
    const hosts = [...this.#hosts.keys()].sort().flatMap((id) => this.#hosts.get(id) ?? []);
    return [...new Set([...this.#controlPlane, ...hosts].map((c) => c.text))];
  }

  /**
   * For operators' decisions: what an operator may not ban either (management networks they may). A
   * refusal for a fleet host names the hosts that registered the address, so a bogus claim can be
   * found and forgotten (`fleetwall hosts delete`).
   */
  check = (cidr: Cidr): string | undefined => {
    const why = protection(cidr, this.view, this.config);
    const owners = why?.code === "fleet-host" ? this.claimedBy(cidr) : [];
    return owners.length > 0 ? `${why?.reason} (registered by ${owners.slice(0, 3).join(", ")}${owners.length > 3 ? ` and ${owners.length - 3} more` : ""})` : why?.reason;
  };

  /** The hosts whose registered addresses `cidr` is or holds, in any of its forms (`embeddedIPv4`), sorted. */
  claimedBy(cidr: Cidr): string[] {
    const forms = [cidr, ...embeddedIPv4(cidr).map((e) => e.v4)];
    return [...this.#hosts].filter(([, addrs]) => addrs.some((a) => forms.some((f) => cidrContains(f, a)))).map(([id]) => id).sort();
  }
}
