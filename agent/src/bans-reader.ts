import type { DirectStreamAPI } from "@nats-io/jetstream";
import { BANS_BUCKET } from "@fleetwall/api";
import { abortError } from "@fleetwall/runtime";
import { fromBansStream } from "./bans-live.js";

/** One stored entry of the bans bucket, as a direct get returns it. */
export interface StoredBan {
  key: string;
  /** null: a deletion or purge marker. */
  data: Uint8Array | null;
  revision: number;
  /** When the bucket stored it (`Nats-Time-Stamp`). */
  storedAtMs: number;
}

/** The first entry stored at or after revision `from`, or null when the server holds none. */
export type NextBan = (from: number) => Promise<StoredBan | null>;

export type DeliverBan = (key: string, data: Uint8Array | null, revision: number, storedAtMs?: number) => void;

/** A catch-up that cannot be completed from the server that answered (retried by the caller). */
export class BansReadError extends Error {
  override name = "BansReadError";
}

/**
 * Revisions read by one sequential iterator, and how many iterators run at once: 16 requests in
 * flight. Read ahead of what is delivered is at most CHUNK × WINDOW entries (about 2 MB).
 */
export const CHUNK = 128;
export const WINDOW = 16;

const SUBJECTS = `$KV.${BANS_BUCKET}.`;

/**
 * Reads the bans bucket by JetStream direct get (`$JS.API.DIRECT.GET.KV_fleetwall-bans`, the stream
 * has `allow_direct`), no consumer: each request asks for the first entry at or after a revision
 * (`next_by_subj`), so revisions the stream no longer holds (superseded values) are skipped.
 */
export function directBans(direct: DirectStreamAPI): NextBan {
  return async (from) => {
    const m = await direct.getMessage(`KV_${BANS_BUCKET}`, { seq: from, next_by_subj: `${SUBJECTS}>` });
    if (!m) return null;
    const subject = m.subject;
    // the answer names its stream and stored subject: only an entry of the bans bucket's stream counts
    if (!fromBansStream(m.header.get("Nats-Stream"))) throw new BansReadError(`an answer for revision ${from} of the bans bucket came from the stream ${m.header.get("Nats-Stream")}`);
    if (!subject.startsWith(SUBJECTS) || subject.length === SUBJECTS.length) throw new BansReadError(`entry ${m.seq} of the bans bucket has the subject ${subject}`);
    if (!(Number.isSafeInteger(m.seq) && m.seq >= from)) throw new BansReadError(`asked for revision ${from} or later, got ${m.seq}`);
    return { key: subject.slice(SUBJECTS.length), data: m.header.get("KV-Operation") ? null : m.data, revision: m.seq, storedAtMs: Date.parse(m.timestamp) };
  };
}

/**
 * The entries in revisions [`start`, `end`], read one after another. None at or after `start` (the
 * bucket's last revision is at least `end`) means the answering server is behind (a stream replica
 * that has not yet stored them) or the stream was purged: an error, so the caller asks again.
 */
async function readRange(next: NextBan, start: number, end: number, aborted: Promise<never>): Promise<StoredBan[]> {
  const out: StoredBan[] = [];
  for (let from = start; from <= end; ) {
    const e = await Promise.race([next(from), aborted]);
    if (!e) throw new BansReadError(`no entry at or after revision ${from} of the bans bucket, whose last revision is at least ${end}`);
    if (e.revision < from) throw new BansReadError(`asked for revision ${from} or later, got ${e.revision}`);
    if (e.revision > end) break;
    out.push(e);
    from = e.revision + 1;
  }
  return out;
}

/**
 * Delivers, in revision order, every entry the bucket holds after revision `after` up to `until`
 * (not beyond). Up to `window` disjoint ranges of `chunk` revisions are read at once; each is
 * delivered when it and every range before it are. Rejects at the first failed request (what came
 * before it is delivered; the caller retries from there; the other ranges stop) and when `signal`
 * aborts.
 */
export async function readBans(next: NextBan, after: number, until: number, deliver: DeliverBan, signal: AbortSignal, options: { chunk?: number; window?: number } = {}): Promise<void> {
  const chunk = options.chunk ?? CHUNK;
  const window = options.window ?? WINDOW;
  const inFlight: Promise<StoredBan[]>[] = [];
  // one listener for every request in flight; ended when `signal` aborts and when this call ends
  // (a failed range stops the others at their next request)
  const done = new AbortController();
  const onAbort = () => done.abort();
  if (signal.aborted) done.abort();
  else signal.addEventListener("abort", onAbort, { once: true });
  const aborted = new Promise<never>((_, reject) => {
    const stop = () => reject(abortError(signal.aborted ? signal : done.signal));
    if (done.signal.aborted) stop();
    else done.signal.addEventListener("abort", stop, { once: true });
  });
  aborted.catch(() => undefined);
  let start = after + 1;
  const launch = () => {
    if (start > until) return;
    const p = readRange(next, start, Math.min(start + chunk - 1, until), aborted);
    // a range that fails after an earlier one did is never awaited
    p.catch(() => undefined);
    inFlight.push(p);
    start += chunk;
  };
  try {
    for (let i = 0; i < window; i += 1) launch();
    while (inFlight.length > 0) {
      const entries = await (inFlight.shift() as Promise<StoredBan[]>);
      launch();
      for (const e of entries) deliver(e.key, e.data, e.revision, e.storedAtMs);
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    done.abort();
  }
}
