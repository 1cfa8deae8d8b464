import { BAN_SET_NAMES, ELEMENTS_MAX_OWN, busJsonOrUndefined, ELEMENTS_MAX_REFUSED, ElementsRequest, SCHEMA_VERSION, banSetName, compareElements, isPast, printable, shareLimit, type BanSetName, type ElementsCursor, type ElementsReply, type KernelElement } from "@fleetwall/api";
import type { Logger } from "pino";
import type { FirewallBackend } from "./backend.js";
import type { BanEntry } from "./bans-decision.js";
import type { BansListing } from "./bans-listing.js";
import type { LocalBan } from "./bans-local.js";
import type { BanSync } from "./bans.js";

/**
 * Most elements an agent lists for an operator. nft lists a set whole (a million elements: about
 * half a minute and a gigabyte of JSON), so beyond this the agent says so instead.
 */
export const LISTABLE_MAX = 200_000;

const enc = new TextEncoder();

/** What the agent holds of its own, beside the kernel's listing (`BanSync.held`). */
export interface Held {
  loading: boolean;
  /** Bans and allow entries held (a listing is refused beyond LISTABLE_MAX). */
  size: number;
  refused: ReadonlyMap<string, string>;
  local: readonly LocalBan[];
  own: readonly BanEntry[];
}

/**
 * The answer to an element listing, at most `limit` kernel elements (shared among the sets by
 * `shareLimit`, each set's first in text order) and `limit` local bans, all after the cursor `after`
 * when there is one (a next page). Pure.
 */
export function elementsReply(hostId: string, at: Date, listing: BansListing, held: Held, limit: number, after?: ElementsCursor): ElementsReply {
  const past = BAN_SET_NAMES.map((set) => (listing.get(set) ?? []).filter((e) => isPast(after, set, e.element)));
  const shares = shareLimit(past.map((els) => els.length), limit);
  const sets = BAN_SET_NAMES.map((set, i) => ({ set, total: (past[i] as unknown[]).length, elements: (past[i] as KernelElement[]).slice(0, shares[i]) }));
  const bySet = (a: { set: BanSetName; element: string }, b: { set: BanSetName; element: string }) => BAN_SET_NAMES.indexOf(a.set) - BAN_SET_NAMES.indexOf(b.set) || compareElements(a.element, b.element);
  const refused = [...held.refused].map(([id, error]) => {
    const [kind, element] = [id.slice(0, id.indexOf(" ")), id.slice(id.indexOf(" ") + 1)];
    return { set: banSetName(kind as "ban", element), element, error: printable(error, 300) };
  }).filter((r) => isPast(after, r.set, r.element));
  // own entries whatever the cursor: few, and one before it may cover one after it
  const own = held.own.map((e) => ({ set: banSetName("allow", e.element), element: e.element }));
  const local = held.local.filter((l) => isPast(after, banSetName("local", l.address), l.address));
  return {
    schemaVersion: SCHEMA_VERSION,
    hostId,
    at: at.toISOString(),
    ...(after ? { after } : {}),
    loading: held.loading,
    sets,
    refused: refused.sort(bySet).slice(0, ELEMENTS_MAX_REFUSED),
    refusedTotal: refused.length,
    own: own.sort(bySet).slice(0, ELEMENTS_MAX_OWN),
    ownTotal: own.length,
    local: local.sort((a, b) => compareElements(a.address, b.address)).slice(0, limit).map((l) => ({ address: l.address, jail: printable(l.jail, 64), expiresAt: Math.round(l.expiresAt) })),
    localTotal: local.length,
  };
}

/**
 * Answers operators' element listings (`fleetwall bans list --host H --elements`) from the kernel,
 * read through the backend at the time of the request; one at a time (a second request while one is
 * listed is told the agent is busy). An answer is made to fit `maxBytes` (the server's payload limit)
 * by halving its limit.
 */
export class ElementsAnswerer {
  #busy = false;
  answered = 0;
  /** Requests answered with a refusal: malformed, while busy, too many bans, no table, nft failed. */
  refused = 0;

  constructor(
    private readonly backend: FirewallBackend,
    private readonly bans: BanSync,
    private readonly hostId: string,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async answer(data: Uint8Array, maxBytes: number): Promise<Uint8Array> {
    let request: ElementsRequest;
    try {
      // from the bus: bounded in size and depth before it is parsed (a refusal throws into the catch)
      request = ElementsRequest.parse(busJsonOrUndefined(data, "request"));
    } catch {
      return this.#refusal("malformed request (expected {schemaVersion: 1, limit})");
    }
    if (this.#busy) return this.#refusal("busy listing for another request; ask again");
    const size = this.bans.held().size;
    if (size > LISTABLE_MAX) return this.#refusal(`holds ${size} bans and allow entries, more than the ${LISTABLE_MAX} it lists`);
    this.#busy = true;
    try {
      const listing = await this.backend.listBans();
      if (!listing) return this.#refusal("no bans table in the kernel");
      // what the agent holds of its own, as close to the listing as it can be had
      const held = this.bans.held();
      let limit = request.limit;
      for (;;) {
        const bytes = enc.encode(JSON.stringify(elementsReply(this.hostId, this.now(), listing, held, limit, request.after)));
        if (bytes.length <= maxBytes || limit <= 1) {
          this.answered += 1;
          this.log.info({ limit, bytes: bytes.length }, "ban elements listed for an operator");
          return bytes;
        }
        limit = Math.floor(limit / 2);
      }
    } catch (error) {
      this.log.warn({ err: error }, "ban elements not listed");
      return this.#refusal(`listing failed: ${(error instanceof Error ? error.message : String(error)).slice(0, 300)}`);
    } finally {
      this.#busy = false;
    }
  }

  #refusal(error: string): Uint8Array {
    this.refused += 1;
    const empty = elementsReply(this.hostId, this.now(), new Map(), { loading: this.bans.loading, size: 0, refused: new Map(), local: [], own: [] }, 0);
    return enc.encode(JSON.stringify({ ...empty, sets: [], error: printable(error, 500) }));
  }
}
