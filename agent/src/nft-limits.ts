/** What nft and the kernel accept as names, comments and log prefixes, and how user text is cut to fit. Pure. */

/** nft names (chains, sets, counters) hold at most 255 bytes; policy names up to 253 make longer ones. */
export const NAME_MAX_BYTES = 255;
/** nft comments hold at most 128 bytes. */
export const COMMENT_MAX_BYTES = 128;
/** The kernel refuses log prefixes of 128 bytes and more. */
export const LOG_PREFIX_MAX_BYTES = 127;

const utf8 = new TextEncoder();

/** `text` cut to at most `max` UTF-8 bytes, never inside a character. */
export function cutBytes(text: string, max: number): string {
  if (utf8.encode(text).length <= max) return text;
  let out = "";
  let bytes = 0;
  for (const ch of text) {
    const n = utf8.encode(ch).length;
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/** An nft object name: kept when short enough; otherwise cut, with a hash of the whole so that names stay distinct. */
export function objectName(text: string): string {
  if (text.length <= NAME_MAX_BYTES) return text; // names are ASCII: policy names are DNS names
  return `${text.slice(0, NAME_MAX_BYTES - 9)}_${fnv(text)}`;
}

function fnv(text: string): string {
  let h = 0x811c9dc5;
  for (const ch of text) h = Math.imul(h ^ (ch.codePointAt(0) as number), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}
