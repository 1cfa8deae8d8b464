import type { KV, KvWatchEntry } from "@nats-io/kv";
import { delay, untilAborted } from "@fleetwall/runtime";
import type { Logger } from "pino";

interface Follow {
  /** The bucket's name in log lines. */
  name: string;
  log: Logger;
  /** Each entry, in order; the watch waits for nothing it returns. */
  onEntry: (e: KvWatchEntry) => void;
}

/**
 * Either deletes are not handed on, or the caller may hear when the snapshot is complete: `onSnapshot`
 * is called once per opened watch, when the entries the bucket held as it opened have all been handed
 * on (at once for an empty bucket). Not both: a watch that ignores deletes skips a snapshot's last
 * entry when it is a delete marker, and the snapshot would never be said complete.
 */
export type FollowOptions = Follow & ({ ignoreDeletes: true; onSnapshot?: never } | { ignoreDeletes?: false; onSnapshot?: () => void });

/** Entries handed on between two yields to the event loop, so a catch-up of a big bucket starves nothing. */
const YIELD_EVERY = 256;

/**
 * Follows a bucket (each key's last value, then every change) until `signal` aborts. A watch that
 * ends is opened again, with a warning; a failure to open is logged and waited out for a second, so
 * a bus outage never ends the caller.
 */
export async function followBucket(kv: KV, options: FollowOptions, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    const watch = await opened(kv, options, signal);
    if (!watch) continue;
    const stop = () => watch.stop();
    signal.addEventListener("abort", stop, { once: true });
    try {
      await handOn(kv, watch, options, signal);
    } finally {
      signal.removeEventListener("abort", stop);
      stop();
    }
    if (!signal.aborted) options.log.warn({ bucket: options.name }, "bucket watch ended; restarting");
  }
}

type Watch = AsyncIterable<KvWatchEntry> & { stop(): void };

/** A bucket watch, opened unless `signal` aborts first (with NATS gone, opening waits for the bus). */
async function opened(kv: KV, { name, log, ignoreDeletes }: FollowOptions, signal: AbortSignal): Promise<Watch | undefined> {
  try {
    return await untilAborted(kv.watch({ ignoreDeletes: ignoreDeletes ?? false }), signal, (late) => late.stop());
  } catch (error) {
    if (signal.aborted) return undefined;
    log.warn({ bucket: name, err: error }, "bucket watch not opened; retrying");
    await delay(1000, signal);
    return undefined;
  }
}

/** Hands on one watch's entries until it ends; returns at once when the bucket's size cannot be read. */
async function handOn(kv: KV, watch: Watch, { onEntry, onSnapshot }: FollowOptions, signal: AbortSignal): Promise<void> {
  let initial = false;
  if (onSnapshot) {
    const values = await untilAborted(kv.status(), signal).then((st) => st.values, () => undefined);
    if (values === undefined) return;
    initial = values > 0;
    if (!initial) onSnapshot();
  }
  let n = 0;
  for await (const e of watch) {
    onEntry(e);
    if (initial && e.delta === 0) {
      initial = false;
      onSnapshot?.();
    }
    if (++n % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
  }
}
