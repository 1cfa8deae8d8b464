import { busJsonOrUndefined } from "./bus-json.js";
import { SignedEnvelope } from "./messages.js";

/**
 * How a signed envelope is written in a bucket: framed, the envelope's other fields as one line of
 * JSON, a newline, then the payload exactly as signed.
 * - A desired state escaped into a JSON string grew by about 16 %, and every reader made a second
 *   pass over it.
 * - A bulk load reads a million ban decisions. Framed, an agent hashes each payload's bytes as they
 *   arrived, and the head (the same for every decision of a seal) is parsed once, not once each.
 */
export function framedEnvelopeText(fields: Omit<SignedEnvelope, "payload">, payload: string): string {
  return `${JSON.stringify(fields)}\n${payload}`;
}

/** A whole envelope as a bucket stores it (framed). */
export function envelopeText({ payload, ...fields }: SignedEnvelope): string {
  return framedEnvelopeText(fields, payload);
}

export const EnvelopeHead = SignedEnvelope.omit({ payload: true });
export type EnvelopeHead = Omit<SignedEnvelope, "payload">;

export type ParsedEnvelope = { success: true; data: SignedEnvelope } | { success: false; error: "not JSON" | "not a signed envelope of a known schemaVersion" };
export type ParsedHead = { success: true; data: EnvelopeHead } | { success: false; error: "not a head" | "not a signed envelope of a known schemaVersion" };

/**
 * The first line of a framed envelope: a JSON object without a payload. Anything else is "not a
 * head" (the text may be one JSON object instead).
 */
export function parseEnvelopeHead(line: string): ParsedHead {
  const head = jsonOrUndefined(line);
  if (!head || typeof head !== "object" || Array.isArray(head) || "payload" in head) return { success: false, error: "not a head" };
  const parsed = EnvelopeHead.safeParse(head);
  return parsed.success ? parsed : { success: false, error: "not a signed envelope of a known schemaVersion" };
}

/**
 * Reads either form. A first line that is a JSON object without a payload is a framed envelope's
 * head; anything else is read as one JSON object (which may itself span lines).
 */
export function parseEnvelopeText(text: string): ParsedEnvelope {
  const newline = text.indexOf("\n");
  if (newline > 0) {
    const head = parseEnvelopeHead(text.slice(0, newline));
    // a compressed payload read as text is no payload: openEnvelopeBytes (desired-wire.ts) reads it
    if (head.success && head.data.encoding !== undefined) return { success: false, error: "not a signed envelope of a known schemaVersion" };
    if (head.success) return { success: true, data: { ...head.data, payload: text.slice(newline + 1) } };
    if (head.error !== "not a head") return { success: false, error: head.error };
  }
  const raw = jsonOrUndefined(text);
  if (raw === undefined) return { success: false, error: "not JSON" };
  const env = SignedEnvelope.safeParse(raw);
  return env.success && env.data.encoding === undefined ? { success: true, data: env.data } : { success: false, error: "not a signed envelope of a known schemaVersion" };
}

/** Envelopes come from the bus: bounded in size and depth before they are parsed (bus-json.ts). */
function jsonOrUndefined(text: string): unknown {
  return busJsonOrUndefined(text, "envelope");
}
