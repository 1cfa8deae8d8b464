import { SignedEnvelope } from "./messages.js";

/**
 * How a signed envelope is written in a bucket. A large payload (a desired state) is framed: the
 * envelope's other fields as one line of JSON, a newline, then the payload exactly as signed.
 * Escaped into a JSON string, a 25 KB state grew by about 16 % and every reader made a second pass
 * over it. Small payloads (ban decisions) are written as one JSON object with the payload inside.
 */
export function framedEnvelopeText(fields: Omit<SignedEnvelope, "payload">, payload: string): string {
  return `${JSON.stringify(fields)}\n${payload}`;
}

export type ParsedEnvelope = { success: true; data: SignedEnvelope } | { success: false; error: "not JSON" | "not a signed envelope of a known schemaVersion" };

/**
 * Reads either form. A first line that is a JSON object without a payload is a framed envelope's
 * head; anything else is read as one JSON object (which may itself span lines).
 */
export function parseEnvelopeText(text: string): ParsedEnvelope {
  let raw: unknown;
  const newline = text.indexOf("\n");
  if (newline > 0) {
    const head = jsonOrUndefined(text.slice(0, newline));
    if (head && typeof head === "object" && !Array.isArray(head) && !("payload" in head)) raw = { ...head, payload: text.slice(newline + 1) };
  }
  if (raw === undefined) {
    raw = jsonOrUndefined(text);
    if (raw === undefined) return { success: false, error: "not JSON" };
  }
  const env = SignedEnvelope.safeParse(raw);
  return env.success ? { success: true, data: env.data } : { success: false, error: "not a signed envelope of a known schemaVersion" };
}

function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
