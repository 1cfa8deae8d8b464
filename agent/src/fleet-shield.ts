import { logDropped } from "@fleetwall/runtime";
import { FleetProtection, parseBusJson, keyIdOfPem, parseCidr, parseEnvelopeText, sha256Hex, verifyEnvelope } from "@fleetwall/api";
import type { Logger } from "pino";
import type { BanSync } from "./bans.js";
import { FLEET_PROTECTION, type StateStore } from "./state-store.js";

export type VerifiedProtection = { ok: true; list: FleetProtection; hash: string } | { ok: false; reason: string; older?: true };

/**
 * Checks one fleet protection list: signed by the trusted key, of a known schema, every entry an
 * address or CIDR, and not older than the list held: a revision below it is refused (replayed or
 * overtaken), the same revision only with the same content. Pure; never throws.
 */
export function verifyProtection(data: string, trustedKey: string | undefined, held: { revision: number; hash?: string | undefined }): VerifiedProtection {
  if (!trustedKey) return { ok: false, reason: "no trusted controller key yet" };
  const env = parseEnvelopeText(data);
  if (!env.success) return { ok: false, reason: env.error };
  try {
    if (env.data.keyId !== keyIdOfPem(trustedKey) || !verifyEnvelope(env.data, trustedKey)) return { ok: false, reason: "bad signature" };
  } catch {
    return { ok: false, reason: "bad signature" };
  }
  const json = parseBusJson(env.data.payload, "envelope");
  if (!json.ok) return { ok: false, reason: `payload ${json.reason === "not JSON" ? "is not JSON" : `is ${json.reason}`}` };
  const payload = json.value;
  const list = FleetProtection.safeParse(payload);
  if (!list.success) return { ok: false, reason: "payload is not a fleet protection list of a known schemaVersion" };
  const bad = list.data.entries.find((e) => !parses(e));
  if (bad !== undefined) return { ok: false, reason: `entry ${JSON.stringify(bad)} is not an address or CIDR` };
  // the entries, not the payload: two controllers publishing the same entries under one revision agree
  const hash = sha256Hex(JSON.stringify(list.data.entries));
  if (list.data.revision < held.revision) return { ok: false, reason: `replayed revision ${list.data.revision} < held ${held.revision}`, older: true };
  if (list.data.revision === held.revision && held.hash !== undefined && hash !== held.hash) return { ok: false, reason: `revision ${held.revision} is held with other content: two lists under one revision` };
  return { ok: true, list: list.data, hash };
}

function parses(text: string): boolean {
  try {
    parseCidr(text);
    return true;
  } catch {
    return false;
  }
}

/** What to protect and to take back to go from `held` to `wanted` (canonical texts). Pure. */
export function protectionChanges(held: ReadonlySet<string>, wanted: readonly string[]): { add: string[]; remove: string[] } {
  const want = new Set(wanted.map((t) => parseCidr(t).text));
  return { add: [...want].filter((t) => !held.has(t)), remove: [...held].filter((t) => !want.has(t)) };
}

/**
 * Holds the fleet's protection list on this host: its entries are allow entries of the bans table
 * (matched before any ban, so no decision cuts them) and the jails never ban them locally. A list is
 * taken when `verifyProtection` accepts it, and kept in the state directory, so a restarted agent
 * protects the fleet before it reaches the bus and still refuses an older list.
 */
export class FleetShield {
  readonly #held = new Set<string>();
  #revision = 0;
  #hash: string | undefined;
  /** Lists refused (unsigned, malformed, replayed). */
  dropped = 0;

  constructor(
    private readonly bans: BanSync,
    private readonly store: StateStore,
    private readonly trustedKey: () => string | undefined,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.#held.size;
  }
  get revision(): number {
    return this.#revision;
  }

  /** The list saved in the state directory, if any and still valid for the trusted key. */
  async restore(): Promise<void> {
    const saved = await this.store.read(FLEET_PROTECTION).catch(() => undefined);
    if (saved) await this.#take(saved, false);
  }

  /** A list from the bucket (`stored`: read back, maybe older than one taken since). */
  async onValue(data: Uint8Array, stored: boolean): Promise<void> {
    await this.#take(new TextDecoder().decode(data), true, stored);
  }

  async #take(text: string, save: boolean, stored = false): Promise<void> {
    const v = verifyProtection(text, this.trustedKey(), { revision: this.#revision, hash: this.#hash });
    if (!v.ok) {
      if (v.older && stored) return;
      this.dropped += 1;
      logDropped(this.log, { reason: v.reason }, "fleet protection list dropped");
      return;
    }
    if (v.hash === this.#hash) {
      // the same entries under a newer revision (a controller that lost the bucket publishes them again): held, nothing to change
      if (v.list.revision === this.#revision) return;
      this.#revision = v.list.revision;
      if (save) await this.#save(text);
      return;
    }
    const { add, remove } = protectionChanges(this.#held, v.list.entries);
    for (const t of remove) this.#held.delete(t);
    for (const t of add) this.#held.add(t);
    this.#revision = v.list.revision;
    this.#hash = v.hash;
    await Promise.all([...remove.map((t) => this.bans.unprotect(t, "fleet")), ...add.map((t) => this.bans.protect(t, "fleet"))]);
    this.log.info({ revision: v.list.revision, entries: this.#held.size, added: add.length, removed: remove.length }, "fleet protection list in force");
    if (save) await this.#save(text);
  }

  #save(text: string): Promise<void> {
    return this.store.write(FLEET_PROTECTION, text).catch((error: unknown) => this.log.warn({ err: error }, "fleet protection list not saved"));
  }
}
