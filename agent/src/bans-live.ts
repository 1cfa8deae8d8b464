import { BANS_BUCKET, BANS_LIVE_PREFIX } from "@fleetwall/api";

/** The stream behind the bans bucket: the only one whose entries count on the live subjects. */
export const BANS_STREAM = `KV_${BANS_BUCKET}`;
const STORED_PREFIX = `$KV.${BANS_BUCKET}.`;
/** A revision: a positive decimal integer a JavaScript number holds exactly. */
const REVISION = /^[1-9][0-9]{0,14}$/;

/** The headers a live entry is judged by (nats.js `MsgHdrs` has `get`; a missing header reads ""). */
export interface HeaderReader {
  get(name: string): string;
}

export type LiveVerdict = { ok: true; key: string; revision: number } | { ok: false; reason: string };

/**
 * Whether a message on the bans live subjects is an entry the bans bucket's stream republished
 * (nats-server sets `Nats-Stream`, `Nats-Subject`, `Nats-Sequence` and `Nats-Last-Sequence` on a
 * republished message). Anyone who may make a JetStream direct get can have its answer, which
 * carries the answering stream's `Nats-Stream`, `Nats-Subject` and `Nats-Sequence`, sent to a live
 * subject as its reply subject: a sequence alone is no revision of the bans bucket. An entry counts
 * only when its stream is the bans bucket's and its stored subject is the bucket's key named by the
 * live subject. Pure; never throws; allocates nothing but the verdict.
 */
export function judgeLive(subject: string, headers: HeaderReader | undefined): LiveVerdict {
  if (!headers) return { ok: false, reason: "no headers" };
  if (!subject.startsWith(BANS_LIVE_PREFIX) || subject.length === BANS_LIVE_PREFIX.length) return { ok: false, reason: "not a live ban subject" };
  if (headers.get("Nats-Stream") !== BANS_STREAM) return { ok: false, reason: "not from the bans bucket's stream" };
  const stored = headers.get("Nats-Subject");
  // the stored subject is the live subject's key under the bucket's prefix, and nothing else
  if (stored.length !== STORED_PREFIX.length + subject.length - BANS_LIVE_PREFIX.length || !stored.startsWith(STORED_PREFIX) || !stored.endsWith(subject.slice(BANS_LIVE_PREFIX.length))) {
    return { ok: false, reason: "stored subject is not the live subject's key" };
  }
  const seq = headers.get("Nats-Sequence");
  if (!REVISION.test(seq)) return { ok: false, reason: "no revision" };
  return { ok: true, key: subject.slice(BANS_LIVE_PREFIX.length), revision: Number(seq) };
}

/** Whether a direct get's answer is an entry of the bans bucket's stream (its `Nats-Stream`). */
export const fromBansStream = (stream: string | undefined): boolean => stream === BANS_STREAM;
