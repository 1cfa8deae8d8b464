import { z } from "zod";
import { HostId, SCHEMA_VERSION } from "./messages.js";

// `fleetwall bans list --host H --elements`: the operator asks one agent for the elements its
// kernel's ban sets hold now (read from nft, not from the agent's bookkeeping), beside what the
// agent holds of its own (local bans, its own allow entries) and what nft refused. The answer is
// bounded and, for the CLI, untrusted input: every field is checked, unknown ones refused.

const V1 = z.literal(SCHEMA_VERSION);

/** The sets of the bans table, in the order listings use. */
export const BAN_SET_NAMES = ["allow4", "allow6", "net4", "net6", "ban4", "ban6", "local4", "local6"] as const;
export const BanSetName = z.enum(BAN_SET_NAMES);
export type BanSetName = z.infer<typeof BanSetName>;

/** Elements per answer by default, and at most (an answer stays well under NATS's 1 MiB payload). */
export const ELEMENTS_DEFAULT_LIMIT = 1_000;
export const ELEMENTS_MAX_LIMIT = 5_000;
/** Refused elements and own allow entries in one answer, at most. */
export const ELEMENTS_MAX_REFUSED = 100;
export const ELEMENTS_MAX_OWN = 2_048;

export const ElementsRequest = z.strictObject({
  schemaVersion: V1,
  /** Most kernel elements (and most local bans) in the answer. */
  limit: z.number().int().min(1).max(ELEMENTS_MAX_LIMIT),
});
export type ElementsRequest = z.infer<typeof ElementsRequest>;

// what a terminal prints as is: an answer comes from a host, and a host is not trusted with escape codes
const Element = z.string().min(1).max(100).regex(/^[0-9a-fA-F.:/-]+$/, "an address, network or range");
const Printable = (max: number) => z.string().max(max).regex(/^[\x20-\x7e]*$/, "printable ASCII");

/** Text for an answer's free-text fields: printable ASCII only, one line, cut to `max`. */
export const printable = (text: string, max: number): string => text.replace(/[^\x20-\x7e]/g, "?").slice(0, max);
const Count = z.number().int().min(0).max(100_000_000);

/** One element as the kernel holds it: canonical text (or `a-b` for a range nft holds), and its time left. */
export const KernelElement = z.strictObject({
  element: Element,
  /** Time left before the kernel drops it (nft lists whole seconds); absent: no timeout. */
  expiresInMs: z.number().int().min(0).max(2 ** 53).optional(),
});
export type KernelElement = z.infer<typeof KernelElement>;

/** One set: the first elements in text order (`compareElements`), and how many it holds in all. */
export const SetListing = z.strictObject({ set: BanSetName, total: Count, elements: z.array(KernelElement).max(ELEMENTS_MAX_LIMIT) });
export type SetListing = z.infer<typeof SetListing>;

export const ElementsReply = z.strictObject({
  schemaVersion: V1,
  hostId: HostId,
  /** When the agent listed its kernel (its clock). */
  at: z.iso.datetime({ offset: true }),
  /** The agent has not read the bans bucket to its end since it started: its kernel still holds what it had. */
  loading: z.boolean(),
  /** Why the agent did not list (busy with another listing, no bans table, too many elements). */
  error: Printable(500).optional(),
  sets: z.array(SetListing).max(BAN_SET_NAMES.length),
  refused: z.array(z.strictObject({ set: BanSetName, element: Element, error: Printable(300) })).max(ELEMENTS_MAX_REFUSED),
  refusedTotal: Count,
  /** The agent's own allow entries (management networks, its own and the bus's addresses): not decisions. */
  own: z.array(z.strictObject({ set: BanSetName, element: Element })).max(ELEMENTS_MAX_OWN),
  ownTotal: Count,
  /** The host's own jail bans (its decisions for the local sets), the first in address text order. */
  local: z.array(z.strictObject({ address: Element, jail: Printable(64), expiresAt: z.number().int().min(0) })).max(ELEMENTS_MAX_LIMIT),
  localTotal: Count,
});
export type ElementsReply = z.infer<typeof ElementsReply>;

/** The order of elements in listings: plain text order of the canonical form. */
export function compareElements(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The set an element of `kind` for this address or network goes in. */
export function banSetName(kind: "allow" | "ban" | "net" | "local", element: string): BanSetName {
  return `${kind}${element.includes(":") ? 6 : 4}`;
}

/**
 * How many of each set's `sizes` elements go into an answer of `limit`: small sets whole, the rest
 * sharing what is left equally, so one large set does not hide the others. Pure.
 */
export function shareLimit(sizes: readonly number[], limit: number): number[] {
  const order = sizes.map((n, i) => [n, i] as const).sort((a, b) => a[0] - b[0]);
  const out = sizes.map(() => 0);
  let left = limit;
  order.forEach(([n, i], k) => {
    const take = Math.min(n, Math.floor(left / (order.length - k)));
    out[i] = take;
    left -= take;
  });
  return out;
}
