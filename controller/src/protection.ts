import { cidrContains, embeddedIPv4, parseCidr, specialAddressReason, type Cidr, type HostRegistration } from "@fleetwall/api";
import { protection, type ArbiterConfig, type Protected } from "./arbiter.js";
import type { BanMirror } from "./ban-mirror.js";
import { hostAddressRule, judgeHostAddresses, type HostAddressRule, type NodeAddresses, type RefusedAddress } from "./host-networks.js";

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
  readonly #refusedAddresses = new Map<string, RefusedAddress[]>();
  readonly #rule: HostAddressRule;
  /** Each host's registered addresses, to judge them again when its Node changes. */
  readonly #registered = new Map<string, readonly string[]>();
  /** The Kubernetes Nodes' own addresses, by the host id each Node is (kube source only). */
  readonly #nodes = new Map<string, NodeAddresses>();
  /** Registration entries refused, in all. */
  refusedClaims = 0;

  constructor(
    private readonly config: Pick<ArbiterConfig, "minPrefix" | "protect" | "hostAddresses">,
    private readonly mirror: BanMirror,
  ) {
    this.#controlPlane = [...config.protect];
    this.#rule = config.hostAddresses ?? hostAddressRule(undefined);
  }

  /** Each host's registered addresses not taken as its own (not protected), with why; hosts with none are absent. */
  get refusedAddresses(): ReadonlyMap<string, readonly RefusedAddress[]> {
    return this.#refusedAddresses;
  }

  /** A host's registration (null: gone). Returns the claims refused, with why. */
  setHost(hostId: string, reg: Pick<HostRegistration, "addresses" | "managementSources"> | null): string[] {
    this.#hostList = this.#managementList = undefined;
    if (!reg) {
      this.#hosts.delete(hostId);
      this.#management.delete(hostId);
      this.#refusedAddresses.delete(hostId);
      this.#registered.delete(hostId);
      return [];
    }
    const problems: string[] = [];
    this.#registered.set(hostId, reg.addresses);
    const own = this.#ownAddresses(hostId, reg.addresses, problems);
    this.#hosts.set(hostId, own);
    const mgmt = parseAll(reg.managementSources ?? []);
    for (const b of mgmt.bad) problems.push(`management network ${b}: not an address or CIDR`);
    const narrow = mgmt.ok.filter((c) => c.prefix >= MANAGEMENT_MIN_PREFIX[c.family] || (problems.push(`management network ${c.text}: broader than /${MANAGEMENT_MIN_PREFIX[c.family]}, protected only on ${hostId} (an Allow BanList protects it fleet-wide)`), false));
    if (narrow.length > MAX_MANAGEMENT_NETWORKS) problems.push(`${narrow.length} management networks: only the first ${MAX_MANAGEMENT_NETWORKS} protect fleet-wide, the others only on ${hostId}`);
    this.#management.set(hostId, narrow.slice(0, MAX_MANAGEMENT_NETWORKS));
    this.refusedClaims += problems.length;
    return problems;
  }

  /**
   * The addresses of a registration taken as the host's own: single addresses, inside the host
   * networks, at most MAX_HOST_ADDRESSES. The others are refused: added to `problems` and kept as
   * the host's refused addresses (status shows them).
   */
  #ownAddresses(hostId: string, addresses: readonly string[], problems: string[]): Cidr[] {
    const refused: RefusedAddress[] = [];
    const refuse = (address: string, reason: string) => (refused.push({ address, reason }), problems.push(`address ${address}: ${reason}`));
    const addrs = parseAll(addresses);
    for (const b of addrs.bad) refuse(b, "not an address");
    const singles = addrs.ok.filter((c) => isSingle(c) || (refuse(c.text, "a host registers single addresses, not networks"), false));
    // link-local and the other special addresses (every host's fe80::…) are never banned by anyone: nothing to judge
    const judged = judgeHostAddresses(singles.filter((c) => !specialAddressReason(c)), this.#rule, this.#nodes.get(hostId));
    for (const r of judged.refused) refuse(r.address, `${r.reason}: not protected`);
    if (judged.own.length > MAX_HOST_ADDRESSES) {
      problems.push(`${judged.own.length} addresses: only the first ${MAX_HOST_ADDRESSES} count`);
      for (const c of judged.own.slice(MAX_HOST_ADDRESSES)) refused.push({ address: c.text, reason: `more than ${MAX_HOST_ADDRESSES} addresses: not protected` });
    }
    if (refused.length) this.#refusedAddresses.set(hostId, refused);
    else this.#refusedAddresses.delete(hostId);
    return judged.own.slice(0, MAX_HOST_ADDRESSES);
  }

  /**
   * The Node a host is, with its own addresses (null: no such Node, or it is gone): a registered
   * host's addresses are judged again. Returns the addresses refused now, with why; undefined when
   * what is protected cannot have changed (the same Node again, as every status update of a Node
   * delivers it, or a host that has not registered).
   */
  setNode(hostId: string, node: NodeAddresses | null): string[] | undefined {
    const before = this.#nodes.get(hostId);
    if (node) this.#nodes.set(hostId, node);
    else this.#nodes.delete(hostId);
    const registered = this.#registered.get(hostId);
    const key = (n: NodeAddresses | null | undefined) => (n ? `${n.node} ${n.addresses.map((a) => a.text).join(",")}` : "");
    const same = key(before) === key(node);
    if (!registered || same) return undefined;
    this.#hostList = undefined;
    const problems: string[] = [];
    this.#hosts.set(hostId, this.#ownAddresses(hostId, registered, problems));
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
