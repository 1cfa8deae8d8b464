import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { BANS_BUCKET } from "@fleetwall/api";
import { directBans, readBans, type StoredBan } from "./bans-reader.js";

/**
 * Every entry the bans bucket holds now, one per key (deletions with null data), read by direct get
 * up to the stream's last revision: no JetStream consumer, so a reader (the operator's `bans list`)
 * needs no right to create one and leaves nothing behind. Rejects when a read fails.
 */
export async function readBansSnapshot(nc: NatsConnection, signal: AbortSignal = new AbortController().signal): Promise<StoredBan[]> {
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const last = (await jsm.streams.info(`KV_${BANS_BUCKET}`)).state.last_seq;
  const byKey = new Map<string, StoredBan>();
  await readBans(directBans(jsm.direct), 0, last, (key, data, revision, storedAtMs) => byKey.set(key, { key, data, revision, storedAtMs: storedAtMs ?? 0 }), signal);
  return [...byKey.values()];
}
