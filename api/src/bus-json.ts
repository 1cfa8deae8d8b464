/**
 * JSON read from the bus, bounded before it is parsed. A message is refused unread when it is larger
 * than its kind may be, or nested deeper than any fleetwall message is: `JSON.parse` of 800 KB of
 * `[[[…]]]` takes ~300 ms, and a few of those a second from one agent stalled a controller. The
 * depth is counted in one pass over the text (strings skipped), far cheaper than the parse. Pure.
 */

const KiB = 1024;

/** The largest message of each kind a fleetwall process reads from the bus (bytes, as UTF-8). */
export const BUS_MESSAGE_BYTES = {
  /** A host's report: the agent trims its list of local bans to fit (agent-report.ts). */
  report: 64 * KiB,
  /** A jail's ban signal (the signals stream refuses larger ones too). */
  signal: 4 * KiB,
  /** A host registration (the hosts bucket refuses larger ones too). */
  registration: 16 * KiB,
  /** A request of the CLI (ban add/remove/list, host delete), a lift order. */
  request: 64 * KiB,
  /** A chunk of `bans import` (at most 5,000 entries). */
  import: 1024 * KiB,
  /** A signed envelope in a bucket: a desired state, a ban decision or seal, the fleet's protection list. */
  envelope: 1024 * KiB,
} as const;
export type BusMessageKind = keyof typeof BUS_MESSAGE_BYTES;

/** Far deeper than any fleetwall message (a desired state, the deepest, nests rules in policies in a ruleset). */
export const MAX_JSON_DEPTH = 64;

export type BusJson = { ok: true; value: unknown } | { ok: false; reason: "too large" | "too deep" | "not JSON" };

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Whether `text` opens more than `max` arrays or objects inside one another (strings skipped). */
export function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i += 1;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth += 1;
      if (depth > max) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth -= 1;
  }
  return false;
}

const dec = new TextDecoder();

/** A string is at most 3 bytes of UTF-8 per UTF-16 unit; the exact count is taken only when that bound is over. */
function utf8Bytes(text: string, max: number): number {
  return text.length * 3 <= max ? text.length : Buffer.byteLength(text, "utf8");
}

/**
 * `data` parsed as JSON when it is at most `maxBytes` (a BUS_MESSAGE_BYTES kind or a number) and at
 * most MAX_JSON_DEPTH deep; otherwise why not, without parsing it.
 */
export function parseBusJson(data: Uint8Array | string, max: BusMessageKind | number): BusJson {
  const maxBytes = typeof max === "number" ? max : BUS_MESSAGE_BYTES[max];
  const size = typeof data === "string" ? utf8Bytes(data, maxBytes) : data.byteLength;
  if (size > maxBytes) return { ok: false, reason: "too large" };
  const text = typeof data === "string" ? data : dec.decode(data);
  if (nestedDeeperThan(text, MAX_JSON_DEPTH)) return { ok: false, reason: "too deep" };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, reason: "not JSON" };
  }
}

/** The parsed value, or undefined for anything parseBusJson refuses. */
export function busJsonOrUndefined(data: Uint8Array | string, max: BusMessageKind | number): unknown {
  const r = parseBusJson(data, max);
  return r.ok ? r.value : undefined;
}
