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

/** The rule from `--host-networks` (none given: the default networks). */
export function hostAddressRule(flag: readonly string[] | undefined): HostAddressRule {
  const explicit = !!flag && flag.length > 0;
  return { networks: (explicit ? flag : DEFAULT_HOST_NETWORKS).map(parseCidr), explicit };
}

/**
 * Splits a host's single addresses into those taken as its own and those refused: an address is
 * the host's when it lies in one of the rule's networks. Pure; keeps the input's order.
 */
export function judgeHostAddresses(addresses: readonly Cidr[], rule: HostAddressRule): { own: Cidr[]; refused: RefusedAddress[] } {
  const own: Cidr[] = [];
  const refused: RefusedAddress[] = [];
  const outside = rule.explicit ? "outside the host networks (--host-networks)" : "outside the default host networks (private, shared, benchmarking and documentation ranges; --host-networks names others)";
  for (const a of addresses) {
    if (rule.networks.some((n) => cidrContains(n, a))) own.push(a);
    else refused.push({ address: a.text, reason: outside });
  }
  return { own, refused };
}
