/** ICMP and ICMPv6 type names as nftables spells them, with their numbers. */
export const ICMP_V4_TYPES: Readonly<Record<string, number>> = Object.freeze({
  "echo-reply": 0,
  "destination-unreachable": 3,
  "source-quench": 4,
  redirect: 5,
  "echo-request": 8,
  "router-advertisement": 9,
  "router-solicitation": 10,
  "time-exceeded": 11,
  "parameter-problem": 12,
  "timestamp-request": 13,
  "timestamp-reply": 14,
});

export const ICMP_V6_TYPES: Readonly<Record<string, number>> = Object.freeze({
  "destination-unreachable": 1,
  "packet-too-big": 2,
  "time-exceeded": 3,
  "parameter-problem": 4,
  "echo-request": 128,
  "echo-reply": 129,
  "mld-listener-query": 130,
  "mld-listener-report": 131,
  "mld-listener-done": 132,
  "nd-router-solicit": 133,
  "nd-router-advert": 134,
  "nd-neighbor-solicit": 135,
  "nd-neighbor-advert": 136,
  "nd-redirect": 137,
  "mld2-listener-report": 143,
});

/**
 * ICMP presets. `Essential` keeps the network working without answering pings: IPv4 destination
 * unreachable (3, includes "fragmentation needed" for path MTU discovery), source quench (4),
 * time exceeded (11), parameter problem (12); IPv6 per RFC 4890: 1–4 and neighbour discovery
 * 133–136, without which IPv6 does not work at all. `Ping` adds echo request and reply.
 */
export const ICMP_PRESETS = {
  Essential: { v4: [3, 4, 11, 12], v6: [1, 2, 3, 4, 133, 134, 135, 136] },
  Ping: { v4: [0, 3, 4, 8, 11, 12], v6: [1, 2, 3, 4, 128, 129, 133, 134, 135, 136] },
} as const;

export function icmpTypeNumber(family: "ip" | "ip6", type: string | number): number | undefined {
  if (typeof type === "number") return type >= 0 && type <= 255 ? type : undefined;
  const table = family === "ip" ? ICMP_V4_TYPES : ICMP_V6_TYPES;
  return Object.hasOwn(table, type) ? table[type] : undefined;
}
