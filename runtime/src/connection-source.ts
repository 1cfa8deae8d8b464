import { parseCidr } from "@fleetwall/api";

/**
 * The source a connection is counted under, for the HTTP side's per-source bounds: an IPv4 address
 * (also when it arrives IPv4-mapped, `::ffff:a.b.c.d`), or an IPv6 address's /64, since one host
 * gets a whole /64 and could otherwise be as many sources as it likes. Pure.
 */
export function connectionSource(address: string | undefined): string {
  if (!address) return "";
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address)?.[1];
  if (mapped) return mapped;
  if (!address.includes(":")) return address;
  try {
    return parseCidr(`${address.split("%")[0]}/64`).text;
  } catch {
    return address;
  }
}
