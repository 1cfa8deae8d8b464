import { BAN_SET_NAMES, compareElements, parseCidr, type BanSetName, type KernelElement } from "@fleetwall/api";

/** What the kernel's ban sets hold, by set, each sorted by `compareElements`. */
export type BansListing = Map<BanSetName, KernelElement[]>;

export class ListingUnreadable extends Error {
  override name = "ListingUnreadable";
}

const isSetName = (name: unknown): name is BanSetName => (BAN_SET_NAMES as readonly unknown[]).includes(name);

/**
 * The elements of the bans table's sets from `nft -j list table inet fleetwall_bans` (elements
 * included). An element is nft's text (`1.2.3.4`), a prefix (`{prefix: {addr, len}}`), a range
 * (`{range: [a, b]}`, kept as `a-b`), each alone or wrapped with its timeout as
 * `{elem: {val, timeout, expires}}` (seconds). Addresses and prefixes come out canonical, as
 * decisions name them. Sets the agent does not make are ignored. Pure.
 */
export function parseBansListing(json: string): BansListing {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new ListingUnreadable("nft's listing is not JSON", { cause: error });
  }
  const objects = (parsed as { nftables?: unknown })?.nftables;
  if (!Array.isArray(objects)) throw new ListingUnreadable("nft's listing has no nftables array");
  const out: BansListing = new Map(BAN_SET_NAMES.map((s) => [s, []]));
  for (const o of objects as Record<string, unknown>[]) {
    const set = o?.set as { name?: unknown; elem?: unknown } | undefined;
    if (!set || !isSetName(set.name)) continue;
    const elems = Array.isArray(set.elem) ? set.elem : [];
    const list = out.get(set.name) as KernelElement[];
    for (const e of elems) list.push(kernelElement(e));
    list.sort((a, b) => compareElements(a.element, b.element));
  }
  return out;
}

function kernelElement(raw: unknown): KernelElement {
  const wrapped = raw && typeof raw === "object" && "elem" in raw ? (raw as { elem: { val?: unknown; expires?: unknown } }).elem : undefined;
  const element = valueText(wrapped ? wrapped.val : raw);
  const expires = wrapped?.expires;
  return typeof expires === "number" && Number.isFinite(expires) ? { element, expiresInMs: Math.max(0, Math.round(expires * 1000)) } : { element };
}

function valueText(v: unknown): string {
  if (typeof v === "string") return canonical(v);
  if (v && typeof v === "object") {
    const prefix = (v as { prefix?: { addr?: unknown; len?: unknown } }).prefix;
    if (prefix && typeof prefix.addr === "string" && typeof prefix.len === "number") return canonical(`${prefix.addr}/${prefix.len}`);
    const range = (v as { range?: unknown }).range;
    if (Array.isArray(range) && range.length === 2) return `${canonical(String(range[0]))}-${canonical(String(range[1]))}`;
  }
  throw new ListingUnreadable(`unexpected set element in nft's listing: ${JSON.stringify(v)?.slice(0, 100)}`);
}

function canonical(text: string): string {
  try {
    return parseCidr(text).text;
  } catch (error) {
    throw new ListingUnreadable(`unexpected address in nft's listing: ${JSON.stringify(text.slice(0, 100))}`, { cause: error });
  }
}
