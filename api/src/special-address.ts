import { CidrSet, parseCidr, type Cidr } from "./net.js";

/**
 * Addresses no ban may ever name, locally or fleet-wide, whoever asks: banning them cuts a host off
 * its own loopback, broadcast, multicast or link-local neighbours (`fe80::1` banned fleet-wide ends
 * IPv6 neighbour discovery on every host), or means nothing (the unspecified address).
 */
export const SPECIAL_NETWORKS: readonly { cidr: string; what: string }[] = [
  { cidr: "0.0.0.0", what: "the unspecified address" },
  { cidr: "255.255.255.255", what: "the broadcast address" },
  { cidr: "127.0.0.0/8", what: "loopback" },
  { cidr: "224.0.0.0/4", what: "multicast" },
  { cidr: "169.254.0.0/16", what: "link-local" },
  { cidr: "::", what: "the unspecified address" },
  { cidr: "::1", what: "loopback" },
  { cidr: "ff00::/8", what: "multicast" },
  { cidr: "fe80::/10", what: "link-local" },
];

const parsed = SPECIAL_NETWORKS.map((s) => ({ ...s, net: parseCidr(s.cidr) }));
const all = new CidrSet(parsed.map((s) => s.net));

/**
 * Why `cidr` (an address or a network) may never be banned, or undefined when it may be: it is, lies
 * in, or covers a special address (SPECIAL_NETWORKS). Pure.
 */
export function specialAddressReason(cidr: Cidr): string | undefined {
  if (!all.overlaps(cidr)) return undefined;
  const one = parsed.find((s) => new CidrSet([s.net]).overlaps(cidr));
  return `${one?.what ?? "a special address"} (${one?.cidr ?? cidr.text}) is never banned`;
}
