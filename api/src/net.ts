import ipaddr from "ipaddr.js";
import { z } from "zod";

export type Family = "ip" | "ip6";

export interface Cidr {
  family: Family;
  /** Canonical text: network address and prefix, e.g. `198.18.0.0/24`, `2001:db8::/64`. Single addresses keep no prefix. */
  text: string;
  prefix: number;
}

/** Parses an address or CIDR, masking host bits, as nftables would want it. Throws on bad input. */
export function parseCidr(input: string): Cidr {
  const raw = input.trim();
  // 010.0.0.1 reads as octal to some parsers and decimal to others: refuse the ambiguity
  const head = raw.split("/")[0] as string;
  if (!head.includes(":") && head.split(".").some((octet) => /^0\d/.test(octet))) {
    throw new Error(`${input}: IPv4 octets must not have leading zeros`);
  }
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  let prefix: number;
  if (raw.includes("/")) {
    [addr, prefix] = ipaddr.parseCIDR(raw);
  } else {
    addr = ipaddr.parse(raw);
    prefix = addr.kind() === "ipv4" ? 32 : 128;
  }
  if (addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    addr = (addr as ipaddr.IPv6).toIPv4Address();
    prefix = Math.max(0, prefix - 96);
  }
  const family: Family = addr.kind() === "ipv4" ? "ip" : "ip6";
  const max = family === "ip" ? 32 : 128;
  const network = family === "ip"
    ? ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${prefix}`)
    : ipaddr.IPv6.networkAddressFromCIDR(`${addr.toString()}/${prefix}`);
  const base = network.toString();
  return { family, prefix, text: prefix === max ? base : `${base}/${prefix}` };
}

export function isCidr(input: string): boolean {
  try {
    parseCidr(input);
    return true;
  } catch {
    return false;
  }
}

/** True when address `a` (a single address) lies inside `net`. */
export function cidrContains(net: Cidr, a: Cidr): boolean {
  if (net.family !== a.family || a.prefix < net.prefix) return false;
  const [base] = ipaddr.parseCIDR(net.text.includes("/") ? net.text : `${net.text}/${net.prefix}`);
  const addr = ipaddr.parse(a.text.split("/")[0] as string);
  return addr.match(base, net.prefix);
}

export const CidrString = z
  .string()
  .refine(isCidr, { message: "must be an IPv4 or IPv6 address or CIDR (e.g. 198.18.0.0/24, 2001:db8::/64)" })
  .describe("An IPv4 or IPv6 address or CIDR.");
