import { promisify } from "node:util";
import { constants, deflateRaw, deflateRawSync } from "node:zlib";
import { DEFLATE_ABOVE_BYTES, framedEnvelopeBytes, type DesiredState, type SigningKey } from "@fleetwall/api";
import { signDesired } from "./publisher.js";

const deflateRawAsync = promisify(deflateRaw);

/** A desired state that, signed and compressed, is still larger than one message on the bus may be. */
export class DesiredTooLargeError extends Error {
  override name = "DesiredTooLargeError";
  constructor(
    /** The payload as text (UTF-8 bytes). */
    readonly textBytes: number,
    /** What would have been put: head line and (deflated) payload. */
    readonly wireBytes: number,
    /** The most the bus takes in one message (the server's max_payload, the bucket's value size). */
    readonly limit: number,
  ) {
    super(`desired state of ${textBytes} bytes (${wireBytes} as sent${wireBytes < textBytes ? ", deflated" : ""}) exceeds the bus's limit of ${limit} bytes per message`);
  }
}

/**
 * The bytes a host's key in the desired bucket gets: the signed envelope, framed. A payload over
 * DEFLATE_ABOVE_BYTES travels as raw deflate (the signature covers its text). The part hosts share
 * is deflated once per distinct state, off the event loop (zlib's thread pool), and ends in a sync
 * flush: a host's own fields deflated on their own and appended make one valid deflate stream, so
 * 1,000 hosts with one big policy cost one compression, not 1,000. Throws DesiredTooLargeError when
 * the result is over `limit`.
 */
export async function desiredBytes(key: SigningKey, state: DesiredState, limit: number): Promise<Uint8Array> {
  const s = signDesired(key, state);
  const textBytes = s.shared.bytes + Buffer.byteLength(s.own);
  let data: Uint8Array;
  if (textBytes <= DEFLATE_ABOVE_BYTES) data = framedEnvelopeBytes(s.head, { text: s.shared.json + s.own });
  else {
    s.shared.deflated ??= deflateRawAsync(s.shared.json, { finishFlush: constants.Z_SYNC_FLUSH });
    const shared = await s.shared.deflated.catch((error: unknown) => {
      delete s.shared.deflated; // tried again next time
      throw error;
    });
    data = framedEnvelopeBytes(s.head, { deflated: Buffer.concat([shared, deflateRawSync(s.own)]) });
  }
  if (data.length > limit) throw new DesiredTooLargeError(textBytes, data.length, limit);
  return data;
}
