import { inflateRawSync } from "node:zlib";
import { EnvelopeHead, type ParsedEnvelope, framedEnvelopeText, parseEnvelopeText } from "./envelope-text.js";

/**
 * The most a compressed payload may inflate to. A 200,000-source state is about 3.5 MB of text; a
 * value from the bus that inflates past this is hostile (a zip bomb) and refused unread.
 */
export const MAX_INFLATED_BYTES = 64 * 1024 * 1024;

/** Payloads longer than this (bytes of text) travel deflated; smaller ones stay plain text. */
export const DEFLATE_ABOVE_BYTES = 128 * 1024;

export class EnvelopeBytesError extends Error {
  override name = "EnvelopeBytesError";
}

const enc = new TextEncoder();
const dec = new TextDecoder();
/** The head field that marks a deflated payload, as JSON.stringify writes it. */
const MARK = enc.encode('"encoding":"deflate-raw"');

/**
 * A framed envelope as bytes for the bucket: the head line (with `encoding` when deflated), a
 * newline, then the payload, as text or as `deflated` (its raw deflate, made by the caller, who may
 * have assembled it from shared pieces: see `controller/src/desired-wire.ts`).
 */
export function framedEnvelopeBytes(head: Omit<EnvelopeHead, "encoding">, payload: { text: string } | { deflated: Uint8Array }): Uint8Array {
  if ("text" in payload) return enc.encode(framedEnvelopeText(head, payload.text));
  const line = enc.encode(`${JSON.stringify({ ...head, encoding: "deflate-raw" })}\n`);
  const out = new Uint8Array(line.length + payload.deflated.length);
  out.set(line);
  out.set(payload.deflated, line.length);
  return out;
}

/** `inflatesPast`: a deflated payload larger than allowed when inflated (a zip bomb, from the bus). */
export type OpenedEnvelope = { ok: true; text: string; inflated: boolean } | { ok: false; reason: string; inflatesPast?: number };

/**
 * The text of a signed envelope from its bytes as the bucket holds them: a deflated payload is
 * inflated (at most `maxBytes`, else refused) and the envelope given back framed with the payload as
 * text, as it was signed. Anything else is decoded as it is. Never throws.
 */
export function openEnvelopeBytes(data: Uint8Array, maxBytes = MAX_INFLATED_BYTES): OpenedEnvelope {
  const newline = data.indexOf(10);
  if (newline <= 0 || !contains(data.subarray(0, newline), MARK)) return { ok: true, text: dec.decode(data), inflated: false };
  let head: EnvelopeHead;
  try {
    head = EnvelopeHead.parse(JSON.parse(dec.decode(data.subarray(0, newline))));
  } catch {
    return { ok: false, reason: "not a signed envelope of a known schemaVersion" };
  }
  let payload: Buffer;
  try {
    payload = inflateRawSync(data.subarray(newline + 1), { maxOutputLength: maxBytes });
  } catch (error) {
    const tooLarge = error instanceof RangeError || (error as { code?: unknown }).code === "ERR_BUFFER_TOO_LARGE";
    return tooLarge ? { ok: false, reason: `compressed payload inflates past ${maxBytes} bytes: refused`, inflatesPast: maxBytes } : { ok: false, reason: "compressed payload does not inflate" };
  }
  const { encoding: _, ...plain } = head;
  return { ok: true, text: framedEnvelopeText(plain, payload.toString("utf8")), inflated: true };
}

/** `openEnvelopeBytes`, then `parseEnvelopeText`: the envelope, whichever form the bytes are in. */
export function parseEnvelopeBytes(data: Uint8Array, maxBytes = MAX_INFLATED_BYTES): ParsedEnvelope | { success: false; error: string } {
  const opened = openEnvelopeBytes(data, maxBytes);
  return opened.ok ? parseEnvelopeText(opened.text) : { success: false, error: opened.reason };
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack.buffer, haystack.byteOffset, haystack.length).indexOf(needle) >= 0;
}
