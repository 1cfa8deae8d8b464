import ipaddr from "ipaddr.js";
import { cidrContains, parseCidr, type Cidr } from "./net.js";

/**
 * IPv6 ranges whose addresses carry an IPv4 address, and where its 32 bits sit (RFC 6052 §2.2,
 * RFC 3056, RFC 4380, RFC 6145). IPv4-mapped addresses (`::ffff:a.b.c.d`) need no entry: parseCidr already
 * reads them as the IPv4 address. A network-specific NAT64 prefix an operator chose is not known
 * here, and deprecated IPv4-compatible addresses (`::a.b.c.d`) are not routed.
 */
interface Embedding {
  /** The translation range. */
  range: Cidr;
  what: string;
  /** The v6 bit positions of the IPv4 address's bits 0–31, in order. */
  bits: readonly number[];
  /** Teredo stores the client's address inverted. */
  inverted?: true;
}

const span = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);
/** RFC 6052 §2.2: the IPv4 bits for each prefix length; bits 64–71 (the "u" octet) are never used. */
const RFC6052 = {
  48: [...span(48, 16), ...span(72, 16)],
  56: [...span(56, 8), ...span(72, 24)],
  64: span(72, 32),
  96: span(96, 32),
} as const;

export const IPV4_EMBEDDINGS: readonly Embedding[] = [
  { range: parseCidr("64:ff9b::/96"), what: "NAT64", bits: RFC6052[96] },
  // RFC 8215's local-use prefix: each domain picks where the address goes, so every layout counts
  ...([48, 56, 64, 96] as const).map((p): Embedding => ({ range: parseCidr("64:ff9b:1::/48"), what: `local NAT64 /${p}`, bits: RFC6052[p] })),
  { range: parseCidr("2002::/16"), what: "6to4", bits: span(16, 32) },
  { range: parseCidr("2001::/32"), what: "Teredo", bits: span(96, 32), inverted: true },
  // RFC 6145/7915 SIIT's IPv4-translated addresses (`::ffff:0:a.b.c.d`), not the IPv4-mapped `::ffff:a.b.c.d`
  { range: parseCidr("::ffff:0:0:0/96"), what: "SIIT", bits: span(96, 32) },
];

/** One IPv4 network an IPv6 address or network stands for, and the form it is written in. */
export interface EmbeddedIPv4 {
  v4: Cidr;
  what: string;
}

/**
 * The canonical text of an address or network in or around one of the ranges (64:ff9b::/96 and
 * 64:ff9b:1::/48, 2002::/16, 2001::/32; ::ffff:0:0:0/96 and networks holding it, `::/64`) starts so.
 */
const IN_RANGES = /^(?:64:ff9b:|2002:|2001:0:|2001::|::)/;

const bit = (bytes: number[], i: number) => ((bytes[i >> 3] as number) >> (7 - (i & 7))) & 1;

/**
 * The IPv4 networks an IPv6 address or network carries through NAT64 (64:ff9b::/96, 64:ff9b:1::/48),
 * 6to4 (2002::/16), Teredo (2001::/32, the client) or SIIT (::ffff:0:0:0/96): `64:ff9b::c612:101` is 198.18.1.1, and a network
 * stands for every IPv4 address it can hold (`64:ff9b::c612:100/120` is 198.18.1.0/24, a network that
 * holds the whole translation range is 0.0.0.0/0). Empty for IPv4 and for other IPv6. Pure.
 */
export function embeddedIPv4(c: Cidr): EmbeddedIPv4[] {
  if (c.family !== "ip6") return [];
  // most addresses are in none of the ranges: their canonical text (parseCidr's, lower case and
  // compressed) says so without parsing; a network of /32 or broader may hold a range whatever it starts with
  if (c.prefix > 32 && !IN_RANGES.test(c.text)) return [];
  const out: EmbeddedIPv4[] = [];
  let bytes: number[] | undefined;
  for (const e of IPV4_EMBEDDINGS) {
    if (cidrContains(c, e.range)) {
      out.push({ v4: parseCidr("0.0.0.0/0"), what: e.what });
      continue;
    }
    if (!cidrContains(e.range, c)) continue;
    bytes ??= ipaddr.parse(c.text.split("/")[0] as string).toByteArray();
    // the IPv4 bits the network fixes: those whose v6 position lies within its prefix
    const known = e.bits.filter((b) => b < c.prefix).length;
    const v4 = [0, 0, 0, 0];
    e.bits.forEach((b, i) => {
      if (i < known) v4[i >> 3] = (v4[i >> 3] as number) | (((bit(bytes as number[], b) ^ (e.inverted ? 1 : 0)) << (7 - (i & 7))));
    });
    out.push({ v4: parseCidr(`${ipaddr.fromByteArray(v4).toString()}/${known}`), what: e.what });
  }
  return out;
}
