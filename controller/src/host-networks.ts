import { cidrContains, parseCidr, type Cidr } from "@fleetwall/api";

/**
 * The networks a registered address is taken from when the controller has no `--host-networks`:
 * the ranges that are not routed on the public internet (RFC 6890 special-purpose: private,
 * shared, benchmarking, documentation, unique-local). An attacker's own infrastructure that reaches
 * the fleet over the internet is never in them, so a compromised host cannot shield it by
 * registering it; hosts whose own addresses are public need `--host-networks` naming them.
 */
export const DEFAULT_HOST_NETWORKS: readonly string[] = [
  "10.0.0.0/8",
  "172.16.0.0/12",
  "192.168.0.0/16",
  "100.64.0.0/10",
  "198.18.0.0/15",
  "192.0.2.0/24",
  "198.51.100.0/24",
  "203.0.113.0/24",
  "fc00::/7",
  "2001:db8::/32",
];

/** Where a host's registered addresses must be to count as its own. */
export interface HostAddressRule {
  /** The networks fleet hosts' addresses are in (`--host-networks`, or DEFAULT_HOST_NETWORKS). */
  networks: readonly Cidr[];
  /** Whether `networks` was given by the operator (the words of a refusal name the flag or the default). */
  explicit: boolean;
}

/** One registered address not taken as the host's own, with why. */
export interface RefusedAddress {
  address: string;
  reason: string;
}

/** A Kubernetes Node's own addresses (its `status.addresses` of type InternalIP and ExternalIP), for the host it is. */
export interface NodeAddresses {
  node: string;
  addresses: readonly Cidr[];
}

/** Node address types that are addresses of the node itself (Hostname and the DNS names are not addresses). */
const NODE_ADDRESS_TYPES = new Set(["InternalIP", "ExternalIP"]);

/** A Node's own addresses from its `status.addresses`; entries that are not addresses are left out. Pure. */
export function nodeAddresses(node: string, status: readonly { type?: string; address?: string }[] | undefined): NodeAddresses {
  const addresses: Cidr[] = [];
  for (const a of status ?? []) {
    if (!a.type || !NODE_ADDRESS_TYPES.has(a.type) || !a.address) continue;
    try {
      const c = parseCidr(a.address);
      if (c.prefix === (c.family === "ip" ? 32 : 128)) addresses.push(c);
    } catch {
      // a name, or garbage: not an address of the node
    }
  }
  return { node, addresses };
}

/** The rule from `--host-networks` (none given: the default networks). */
export function hostAddressRule(flag: readonly string[] | undefined): HostAddressRule {
  const explicit = !!flag && flag.length > 0;
  return { networks: (explicit ? flag : DEFAULT_HOST_NETWORKS).map(parseCidr), explicit };
}

/**
 * Splits a host's single addresses into those taken as its own and those refused. A host that is a
 * Kubernetes Node (`node`) owns exactly the Node's addresses: its status is the truth, whatever the
 * networks. Any other host owns the addresses that lie in one of the rule's networks. Pure; keeps
 * the input's order.
 */
export function judgeHostAddresses(addresses: readonly Cidr[], rule: HostAddressRule, node?: NodeAddresses): { own: Cidr[]; refused: RefusedAddress[] } {
  const own: Cidr[] = [];
  const refused: RefusedAddress[] = [];
  const nodes = node && new Set(node.addresses.map((a) => a.text));
  const outside = node
    ? `not an address of Node ${node.node} (its status.addresses)`
    : rule.explicit
      ? "outside the host networks (--host-networks)"
      : "outside the default host networks (private, shared, benchmarking and documentation ranges; --host-networks names others)";
  for (const a of addresses) {
    if (nodes ? nodes.has(a.text) : rule.networks.some((n) => cidrContains(n, a))) own.push(a);
    else refused.push({ address: a.text, reason: outside });
  }
  return { own, refused };
}
