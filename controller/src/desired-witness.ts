import type { Published } from "./publisher.js";

/** One entry of the desired bucket as its watch delivers it. */
export interface DesiredEntry {
  /** The stream sequence of the write (the KV entry's revision). */
  seq: number;
  /** The state's revision and hash; undefined when the value does not parse as a signed desired state. */
  state: Published | undefined;
}

/** Another writer's entry: the host is to be published again above `floor`, the highest revision seen for it. */
export interface ForeignWrite {
  floor: number;
  /** What the key holds now (undefined: not a desired state at all). */
  found: Published | undefined;
}

/** Repairs of one host within this long of the last one count as one run (another writer still at it). */
const RUN_MS = 5 * 60_000;
const FIRST_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 60_000;

/**
 * Tells the controller's own writes to the desired bucket from another writer's (a second
 * controller with another lease, a put by hand): the leader publishes each host's key and watches
 * the bucket; an entry that is neither what it put last nor older than that is someone else's.
 * Pure: the controller tells it what it sends and what the server acknowledged, and the time.
 */
export class DesiredWitness {
  /** The last state put per host, acknowledged or not. */
  readonly #sent = new Map<string, Published>();
  /** The stream sequence of the last acknowledged put per host: what the watch delivers up to it is history. */
  readonly #acked = new Map<string, number>();
  /** Hosts whose last put has no acknowledgement (yet, or ever: the server may have stored it all the same). */
  readonly #unacked = new Set<string>();
  readonly #repairs = new Map<string, { count: number; lastMs: number }>();

  sending(hostId: string, state: Published): void {
    this.#sent.set(hostId, state);
    this.#unacked.add(hostId);
  }

  acked(hostId: string, seq: number | undefined): void {
    this.#unacked.delete(hostId);
    if (seq !== undefined) this.#acked.set(hostId, Math.max(seq, this.#acked.get(hostId) ?? 0));
  }

  /**
   * The states put with no acknowledgement: a next revision for these hosts must be above them, for
   * the server may have stored them (and their agents applied them) all the same.
   */
  *unacknowledged(): Iterable<[string, Published]> {
    for (const hostId of this.#unacked) {
      const sent = this.#sent.get(hostId);
      if (sent) yield [hostId, sent];
    }
  }

  /** The state a delivered entry shows stored, when it is the one put last and not acknowledged: the key holds it. */
  stored(hostId: string, entry: DesiredEntry): Published | undefined {
    const sent = this.#sent.get(hostId);
    if (!this.#unacked.has(hostId) || !sent || !entry.state) return undefined;
    return sent.revision === entry.state.revision && sent.hash === entry.state.hash ? sent : undefined;
  }

  /**
   * The revision to publish a host above when its agent holds a higher one than this controller put
   * (it kept its saved state across a `hosts delete`, or the bucket was lost): otherwise the agent
   * would refuse every revision up to its own as a replay. Undefined when nothing is to be done.
   */
  reportedAbove(report: { hostId: string; appliedRevision: number; desiredRevision: number }, published: Published | undefined): number | undefined {
    const held = Math.max(report.appliedRevision, report.desiredRevision);
    const known = Math.max(published?.revision ?? 0, this.#sent.get(report.hostId)?.revision ?? 0);
    return held > known ? held : undefined;
  }

  forget(hostId: string): void {
    this.#sent.delete(hostId);
    this.#acked.delete(hostId);
    this.#unacked.delete(hostId);
    this.#repairs.delete(hostId);
  }

  /**
   * Whether a put the watch delivered for `hostId` is another writer's: not the state last sent nor
   * the one known published (`published`, loaded from the bucket at start), and not older than the
   * last put acknowledged. Undefined: ours, or history.
   */
  foreign(hostId: string, entry: DesiredEntry, published: Published | undefined): ForeignWrite | undefined {
    if (entry.seq <= (this.#acked.get(hostId) ?? 0)) return undefined;
    const sent = this.#sent.get(hostId);
    const same = (p: Published | undefined) => p !== undefined && entry.state !== undefined && p.revision === entry.state.revision && p.hash === entry.state.hash;
    if (same(sent) || same(published)) return undefined;
    const floor = Math.max(entry.state?.revision ?? 0, sent?.revision ?? 0, published?.revision ?? 0);
    return { floor, found: entry.state };
  }

  /**
   * How long to wait before repairing `hostId` (ms): at once the first time; while another writer
   * keeps overwriting it (two controllers both leading), each repair waits twice as long as the last,
   * up to a minute, so the two do not rewrite every host as fast as the bus allows.
   */
  pace(hostId: string, nowMs: number): number {
    const last = this.#repairs.get(hostId);
    const count = last && nowMs - last.lastMs < RUN_MS ? last.count : 0;
    this.#repairs.set(hostId, { count: count + 1, lastMs: nowMs });
    return count === 0 ? 0 : Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (count - 1));
  }
}
