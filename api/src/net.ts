import ipaddr from "ipaddr.js";
import { z } from "zod";
import { isCidr, parseCidr, type Cidr, type Family } from "./cidr.js";

export { isCidr, parseCidr, v4Text, type Cidr, type Family } from "./cidr.js";

/** Parsed network addresses of Cidr objects, which are immutable: a host's address is parsed once, not per check. */
const parsedBases = new WeakMap<Cidr, ipaddr.IPv4 | ipaddr.IPv6>();

function baseOf(c: Cidr): ipaddr.IPv4 | ipaddr.IPv6 {
  let base = parsedBases.get(c);
  if (!base) {
    base = ipaddr.parse(c.text.split("/")[0] as string);
    parsedBases.set(c, base);
  }
  return base;
}

/** True when `a` (an address or network) lies inside `net`. */
export function cidrContains(net: Cidr, a: Cidr): boolean {
  if (net.family !== a.family || a.prefix < net.prefix) return false;
  return baseOf(a).match(baseOf(net), net.prefix);
}

const isSingle = (c: Cidr) => c.prefix === (c.family === "ip" ? 32 : 128);

/**
 * Addresses and networks, asked whether a CIDR overlaps any of them. Single addresses, nearly all
 * of a fleet's host addresses, are found by their canonical text: an import of 100,000 bans into a
 * fleet of 1,000 hosts must not compare each ban with every host address.
 */
export class CidrSet {
  readonly #singles = new Set<string>();
  readonly #singleList: Cidr[] = [];
  readonly #nets: Cidr[] = [];

  constructor(cidrs: Iterable<Cidr>) {
    for (const c of cidrs) {
      if (!isSingle(c)) this.#nets.push(c);
      else if (!this.#singles.has(c.text)) {
        this.#singles.add(c.text);
        this.#singleList.push(c);
      }
    }
  }

  /** True when `c` contains a member or lies inside one. */
  overlaps(c: Cidr): boolean {
    if (isSingle(c)) {
      if (this.#singles.has(c.text)) return true;
    } else {
      for (const s of this.#singleList) if (cidrContains(c, s)) return true;
    }
    for (const n of this.#nets) if (cidrContains(n, c) || cidrContains(c, n)) return true;
    return false;
  }
}

const OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
const IPV4 = `${OCTET}(\\.${OCTET}){3}`;
const H = "[0-9A-Fa-f]{1,4}";

/** IPv6 text forms (RFC 4291 §2.2), each bounded to eight groups: full, `::`-compressed, and with an IPv4 tail. */
function ipv6Pattern(): string {
  const groups = (n: number) => (n === 1 ? H : n === 2 ? `${H}:${H}` : `${H}(:${H}){${n - 1}}`);
  const plain = [`(${H}:){7}${H}`, `::(${H}(:${H}){0,6})?`];
  const beforeV4 = [`(${H}:){6}`, `::(${H}:){0,5}`];
  const upTo = (n: number, group: string) => (n === 0 ? "" : n === 1 ? `(${group})?` : `(${group}){0,${n}}`);
  for (let left = 1; left <= 7; left++) plain.push(`${groups(left)}::${left < 7 ? `(${H}${upTo(6 - left, `:${H}`)})?` : ""}`);
  for (let left = 1; left <= 5; left++) beforeV4.push(`${groups(left)}::${upTo(5 - left, `${H}:`)}`);
  return `${plain.join("|")}|(${beforeV4.join("|")})${IPV4}`;
}

/**
 * An IPv4 address in dotted decimal (no leading zeros) or an IPv6 address, with an optional prefix
 * length. JavaScript and RE2 (the API server's regexes) read it alike, so the CRD's `pattern` refuses
 * exactly what zod refuses by it.
 */
export const CIDR_PATTERN = new RegExp(`^(${IPV4}(/(3[0-2]|[12]?[0-9]))?|(${ipv6Pattern()})(/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)$`);

const CIDR_MESSAGE = "must be an IPv4 or IPv6 address or CIDR (e.g. 198.18.0.0/24, 2001:db8::/64)";

/**
 * Why a CIDR someone wrote is not what it seems, or undefined: host bits set (`203.0.113.7/24` would
 * silently mean all of 203.0.113.0/24), or an IPv4-mapped IPv6 form (`::ffff:0.0.0.0/96` is 0.0.0.0/0).
 * Call on text parseCidr accepts.
 */
export function cidrProblem(input: string): string | undefined {
  const raw = input.trim();
  const head = raw.split("/")[0] as string;
  if (head.includes(":") && ipaddr.IPv6.isValid(head) && ipaddr.IPv6.parse(head).isIPv4MappedAddress()) {
    return `${input} is an IPv4-mapped IPv6 address: write the IPv4 form (${parseCidr(raw).text})`;
  }
  if (!raw.includes("/")) return undefined;
  const canonical = parseCidr(raw);
  if (ipaddr.parse(head).toString() !== canonical.text.split("/")[0]) return `${input} has host bits set: did you mean ${canonical.text}?`;
  return undefined;
}

export const CidrString = z
  .string()
  .max(64, CIDR_MESSAGE)
  .regex(CIDR_PATTERN, { message: CIDR_MESSAGE, abort: true })
  .refine(isCidr, { message: CIDR_MESSAGE, abort: true })
  .superRefine((text, ctx) => {
    const problem = cidrProblem(text);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .describe("An IPv4 or IPv6 address or CIDR, with no host bits set.");

/** The broadest network an Allow BanList entry may name: wider would exempt (nearly) everyone from bans. */
export const MIN_ALLOW_PREFIX: Readonly<Record<Family, number>> = { ip: 8, ip6: 32 };
