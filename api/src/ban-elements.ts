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

// what a terminal prints as is: an answer comes from a host, and a host is not trusted with escape codes
const Element = z.string().min(1).max(100).regex(/^[0-9a-fA-F.:/-]+$/, "an address, network or range");
const Printable = (max: number) => z.string().max(max).regex(/^[\x20-\x7e]*$/, "printable ASCII");

/** Text for an answer's free-text fields: printable ASCII only, one line, cut to `max`. */
export const printable = (text: string, max: number): string => text.replace(/[^\x20-\x7e]/g, "?").slice(0, max);

const Count = z.number().int().min(0).max(100_000_000);

/** A place in the listing order (set, then element text): a page lists what comes after it. */
export const ElementsCursor = z.strictObject({ set: BanSetName, element: Element });
export type ElementsCursor = z.infer<typeof ElementsCursor>;

export const ElementsRequest = z.strictObject({
  schemaVersion: V1,
  /** Most kernel elements (and most local bans) in the answer. */
  limit: z.number().int().min(1).max(ELEMENTS_MAX_LIMIT),
  /** List only what comes after this (the next page); absent: from the start. */
  after: ElementsCursor.optional(),
});
export type ElementsRequest = z.infer<typeof ElementsRequest>;

/** True when (set, element) comes after `after` in the listing order (always, without a cursor). */
export function isPast(after: ElementsCursor | undefined, set: BanSetName, element: string): boolean {
  if (!after) return true;
  const d = BAN_SET_NAMES.indexOf(set) - BAN_SET_NAMES.indexOf(after.set);
  return d > 0 || (d === 0 && compareElements(element, after.element) > 0);
}

/** One element as the kernel holds it: canonical text (or `a-b` for a range nft holds), and its time left. */
export const KernelElement = z.strictObject({
  element: Element,
  /** Time left before the kernel drops it (nft lists whole seconds); absent: no timeout. */
  expiresInMs: z.number().int().min(0).max(2 ** 53).optional(),
});
export type KernelElement = z.infer<typeof KernelElement>;

/** One set: its first elements in text order (`compareElements`) after the cursor, and how many it holds after it in all. */
export const SetListing = z.strictObject({ set: BanSetName, total: Count, elements: z.array(KernelElement).max(ELEMENTS_MAX_LIMIT) });
export type SetListing = z.infer<typeof SetListing>;

export const ElementsReply = z.strictObject({
  schemaVersion: V1,
  hostId: HostId,
  /** When the agent listed its kernel (its clock). */
  at: z.iso.datetime({ offset: true }),
  /** The cursor of the request: everything in the answer comes after it (totals too). */
  after: ElementsCursor.optional(),
  /** The agent has not read the bans bucket to its end since it started: its kernel still holds what it had. */
  loading: z.boolean(),
  /** Why the agent did not list (busy with another listing, no bans table, too many elements). */
  error: Printable(500).optional(),
  sets: z.array(SetListing).max(BAN_SET_NAMES.length),
  refused: z.array(z.strictObject({ set: BanSetName, element: Element, error: Printable(300) })).max(ELEMENTS_MAX_REFUSED),
  refusedTotal: Count,
  /** The agent's own allow entries (management networks, its own and the bus's addresses): not decisions. Whole on every page. */
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
 * How many of each set's `sizes` elements go into an answer of `limit`: one to each set in turn, in
 * order, until the limit or the sets run out, so one large set does not hide the others and the first
 * set not listed to its end always gets one (a next page makes progress). Pure.
 */
export function shareLimit(sizes: readonly number[], limit: number): number[] {
  const out = sizes.map(() => 0);
  let left = Math.max(0, limit);
  // whole rounds at once while every set still wanting some can take one
  for (;;) {
    const wanting = out.filter((n, i) => n < (sizes[i] as number)).length;
    if (wanting === 0 || left === 0) return out;
    const smallest = Math.min(...out.map((n, i) => (n < (sizes[i] as number) ? (sizes[i] as number) - n : Infinity)));
    const rounds = Math.max(1, Math.min(smallest, Math.floor(left / wanting)));
    for (let i = 0; i < out.length && left > 0; i += 1) {
      const take = Math.min(rounds, (sizes[i] as number) - (out[i] as number), left);
      out[i] = (out[i] as number) + take;
      left -= take;
    }
  }
}
