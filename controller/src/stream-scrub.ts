import type { JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";

/**
 * A push consumer whose deliver subject lies in another stream's subjects has the server publish
 * the first stream into the second, and nats-server stores each such message under its ORIGINAL
 * subject (the internal delivery keeps it): decisions (`$KV.fleetwall-bans.…`) found in the
 * desired bucket's stream, which its own subjects (`$KV.fleetwall-desired.>`) never match, so no
 * per-subject limit or key delete ever removes them. The consumer guard deletes such consumers; this
 * purges what they copied: from each stream, every message under another stream's subjects. Agents
 * may no longer create consumers; an operator's credentials still may, so both stay.
 */

/** For each stream, the subjects of the others (the filters to purge it by). Pure. */
export function foreignFilters(subjectsByStream: ReadonlyMap<string, readonly string[]>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [stream, own] of subjectsByStream) {
    const ownSet = new Set(own);
    const others = [...subjectsByStream].filter(([s]) => s !== stream).flatMap(([, subjects]) => subjects.filter((x) => !ownSet.has(x)));
    out.set(stream, [...new Set(others)]);
  }
  return out;
}

/**
 * How many messages `stream` holds under `filter`; 0 when it cannot tell. nats-server 2.9 moves
 * every consumer of a stream past its pending messages on a filtered purge, even one that removes
 * nothing (the arbiter would lose the signals queued while no controller ran), so a stream is purged
 * only by a filter that matches something there.
 */
async function heldUnder(jsm: JetStreamManager, stream: string, filter: string): Promise<number> {
  const info = await jsm.streams.info(stream, { subjects_filter: filter }).catch(() => undefined);
  return Object.values(info?.state.subjects ?? {}).reduce((a, b) => a + b, 0);
}

/** Purges from each of `streams` the messages stored under the others' subjects; how many went. Never rejects. */
export async function scrubStreams(jsm: JetStreamManager, streams: readonly string[], log: Logger): Promise<number> {
  const subjects = new Map<string, string[]>();
  for (const s of streams) {
    const info = await jsm.streams.info(s).catch(() => undefined);
    if (info) subjects.set(s, info.config.subjects ?? []);
  }
  let purged = 0;
  for (const [stream, filters] of foreignFilters(subjects)) {
    for (const filter of filters) {
      if ((await heldUnder(jsm, stream, filter)) === 0) continue;
      const r = await jsm.streams.purge(stream, { filter }).catch((error: unknown) => {
        log.warn({ stream, filter, err: error }, "foreign messages in a stream not purged");
        return undefined;
      });
      if (r && r.purged > 0) {
        purged += r.purged;
        log.warn({ stream, filter, purged: r.purged }, "messages of another stream found stored in a stream (copied by a consumer) and purged");
      }
    }
  }
  return purged;
}
