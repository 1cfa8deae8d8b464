import ipaddr from "ipaddr.js";

/** First and last address of a canonical address or CIDR, as numbers comparable within a family. */
export function cidrRange(text: string): { family: "ip" | "ip6"; start: bigint; end: bigint } {
  const slash = text.indexOf("/");
  const addr = ipaddr.parse(slash < 0 ? text : text.slice(0, slash));
  const bits = addr.kind() === "ipv4" ? 32 : 128;
  const prefix = slash < 0 ? bits : Number(text.slice(slash + 1));
  let start = 0n;
  for (const b of addr.toByteArray()) start = (start << 8n) | BigInt(b);
  const size = 1n << BigInt(bits - prefix);
  start -= start % size;
  return { family: bits === 32 ? "ip" : "ip6", start, end: start + size - 1n };
}
