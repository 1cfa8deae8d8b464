import { matchesSelector, parseCidr, type BanDecision, type Family, type Labels } from "@fleetwall/api";
import type { LocalBan } from "./bans-local.js";

/** What one decision asks of this host's sets: which set, which element, until when (ms; Infinity for never). */
export interface BanEntry {
  kind: "allow" | "ban" | "net";
  family: Family;
  element: string;
  expiresAt: number;
}

/**
 * The entry a decision makes on a host with these labels, or undefined when it does not apply to the
 * host (its selector) or names nothing nft can hold. Expiry is the caller's to judge. Pure. `parseTime`
 * reads the expiry (a bulk load passes one that remembers the last: an import's decisions share one).
 */
export function decisionEntry(decision: BanDecision, labels: Labels, parseTime: (text: string) => number = Date.parse): BanEntry | undefined {
  const cidr = signedCidr(decision.cidr);
  if (!cidr || !matchesSelector(decision.hostSelector, labels)) return undefined;
  const single = cidr.prefix === (cidr.family === "ip" ? 32 : 128);
  const kind = decision.type === "Allow" ? "allow" : single ? "ban" : "net";
  const expiresAt = decision.expiresAt ? parseTime(decision.expiresAt) : Infinity;
  // one object of one shape, no spread: a bulk load makes a million of these
  return { kind, family: cidr.family, element: cidr.text, expiresAt: Number.isNaN(expiresAt) ? 0 : expiresAt };
}

/** `Date.parse` that remembers the last text and its time: about 0.27 µs a decision saved in a bulk load. */
export function rememberingParse(): (text: string) => number {
  let last = "";
  let ms = Number.NaN;
  return (text) => {
    if (text !== last) {
      last = text;
      ms = Date.parse(text);
    }
    return ms;
  };
}

/**
 * The element a bans-bucket key names when it was made by `banKey`: the text after the list, with
 * '_' for ':' (IPv6) or for '/' (IPv4 networks). Keys made otherwise give something else, which the
 * caller notices by comparing: only a match is ever relied on.
 */
export function elementOfKey(key: string): string {
  const text = key.slice(key.indexOf(".") + 1);
  if (!text.includes("_")) return text;
  return text.includes(".") ? text.replace("_", "/") : text.replaceAll("_", ":");
}

/** The list part of a bucket key (before the first '.'). */
export const listOfKey = (key: string): string => key.slice(0, Math.max(0, key.indexOf(".")));

/**
 * `elementOfKey(key) === element`, without building the string: a bulk load asks this once per
 * decision, and the string cost about a microsecond (replaceAll, and the garbage).
 */
export function keyNamesElement(key: string, element: string): boolean {
  const start = key.indexOf(".") + 1;
  if (key.length - start !== element.length) return false;
  const dotted = key.indexOf(".", start) >= 0;
  let slashed = false;
  for (let i = 0; i < element.length; i += 1) {
    let want = key.charCodeAt(start + i);
    if (want === 95 /* _ */) {
      if (!dotted) want = 58 /* : */;
      else if (!slashed) {
        want = 47; /* / */
        slashed = true;
      }
    }
    if (want !== element.charCodeAt(i)) return false;
  }
  return true;
}

const scratch = Buffer.allocUnsafe(4096);
/**
 * A copy of `key` that holds no other string alive. Keys come as slices of their NATS subjects, and
 * a slice keeps its whole subject: for 100,000 bans that is 4.5 MiB more than the keys themselves.
 */
export function ownCopy(key: string): string {
  if (key.length > 1024) return key; // not a ban key in practice; 3 bytes per unit would still fit
  return scratch.toString("utf8", 0, scratch.write(key, 0, "utf8"));
}

const CANONICAL = /^(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9a-f:]+)(?:\/[0-9]{1,3})?$/;

/**
 * Family and prefix of a decision's address. Decisions are signed by the controller, which writes
 * them canonical, so the common case needs no full parse; anything unusual gets one (and nft refuses
 * what is still wrong, element by element).
 */
function signedCidr(text: string): { family: "ip" | "ip6"; prefix: number; text: string } | undefined {
  if (CANONICAL.test(text)) {
    const family = text.includes(":") ? "ip6" : "ip";
    const slash = text.indexOf("/");
    const prefix = slash < 0 ? (family === "ip" ? 32 : 128) : Number(text.slice(slash + 1));
    return { family, prefix, text };
  }
  try {
    return parseCidr(text);
  } catch {
    return undefined;
  }
}

/** What a host reports of its bans: what it believes it enforces, as a digest, and what nft refused. */
export interface BanTruth {
  epoch: number;
  loading: boolean;
  count: number;
  digest: string;
  refused: { element: string; error: string }[];
  refusedTotal: number;
  local: LocalBan[];
  localTotal: number;
}
