import ipaddr from "ipaddr.js";

// Addresses and networks as text, without zod: log filters (the agent's jails, `fleetwall jail test`)
// parse every offender with parseCidr and must not load the API's schemas to do so. net.ts re-exports
// these beside the schemas.

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
  // a zone id (`fe80::1%eth0`) names an interface of one host: it is not an address to ban or to
  // protect, and text that keeps it would never equal the address it names
  if (raw.includes("%")) throw new Error(`${input}: zone ids (%…) are not allowed in addresses`);
  const fast = parsePlainV4(raw);
  if (fast) return fast;
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
  if (prefix === max) return { family, prefix, text: addr.toString() };
  const network = family === "ip"
    ? ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${prefix}`)
    : ipaddr.IPv6.networkAddressFromCIDR(`${addr.toString()}/${prefix}`);
  return { family, prefix, text: `${network.toString()}/${prefix}` };
}

const PLAIN_V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/([1-9]?\d))?$/;

/**
 * The common case, `a.b.c.d` or `a.b.c.d/p` in plain decimal, without ipaddr.js (which parses the
 * text twice and prints it twice): a policy of 200,000 sources parses in milliseconds, not seconds.
 * Anything else, errors included, is left to the general path (undefined).
 */
function parsePlainV4(raw: string): Cidr | undefined {
  const m = PLAIN_V4.exec(raw);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i += 1) {
    const octet = m[i] as string;
    const v = Number(octet);
    if (v > 255 || (octet.length > 1 && octet[0] === "0")) return undefined;
    n = n * 256 + v;
  }
  const prefix = m[5] === undefined ? 32 : Number(m[5]);
  if (prefix > 32) return undefined;
  if (prefix === 32) return { family: "ip", prefix, text: v4Text(n) };
  const size = 2 ** (32 - prefix);
  return { family: "ip", prefix, text: `${v4Text(n - (n % size))}/${prefix}` };
}

/** Dotted-quad text of a 32-bit address held as a number. */
export function v4Text(n: number): string {
  return `${Math.floor(n / 16777216)}.${Math.floor(n / 65536) % 256}.${Math.floor(n / 256) % 256}.${n % 256}`;
}

export function isCidr(input: string): boolean {
  try {
    parseCidr(input);
    return true;
  } catch {
    return false;
  }
}

