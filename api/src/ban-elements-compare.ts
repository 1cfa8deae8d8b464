import { BAN_SET_NAMES, banSetName, compareElements, isPast, type BanSetName, type ElementsReply } from "./ban-elements.js";
import { cidrContains, parseCidr } from "./net.js";

/** One element a host should hold: from a decision, its own jail, or its own allow entries. */
export interface ExpectedElement {
  set: BanSetName;
  element: string;
  /** ms; Infinity for never. */
  expiresAt: number;
  /** Where it comes from: a list name, `local:<jail>`, or `own`. */
  from: string;
}

export type ElementState = "in force" | "own" | "covered" | "MISSING" | "REFUSED" | "EXTRA";

export interface ElementRow {
  set: BanSetName;
  element: string;
  state: ElementState;
  from: string[];
  /** When the decisions end it (ms; null never); absent when nothing asks for it. */
  expectedExpiresAt?: number | null;
  /** When the kernel drops it (ms; null never); absent when the kernel does not hold it. */
  kernelExpiresAt?: number | null;
  /** nft's reason for a refused element, the network a covered one lies in, an expiry that differs. */
  detail?: string;
}

export interface ElementComparison {
  rows: ElementRow[];
  counts: Record<ElementState, number>;
  /** Elements beyond what the answer listed (its limit), or expiring within seconds of the listing: not judged. */
  notCompared: number;
}

/** Elements that expire this close to the listing may be gone, or not yet, on either side: not judged. */
const SOON_MS = 2_000;
/** A kernel expiry further than this from its decisions' is pointed out (clocks and whole seconds differ a little). */
const EXPIRY_SLACK_MS = 5_000;

/** What the decisions that apply to a host ask of its sets (the agent's mapping: allow, single ban, network). */
export function expectedFromDecisions(decisions: Iterable<{ list: string; type: string; cidr: string; expiresAt: string | null }>): ExpectedElement[] {
  const out: ExpectedElement[] = [];
  for (const d of decisions) {
    let c;
    try {
      c = parseCidr(d.cidr);
    } catch {
      continue; // nothing an agent can hold either
    }
    const single = c.prefix === (c.family === "ip" ? 32 : 128);
    const kind = d.type === "Allow" ? "allow" : single ? "ban" : "net";
    out.push({ set: banSetName(kind, c.text), element: c.text, expiresAt: d.expiresAt ? Date.parse(d.expiresAt) : Infinity, from: d.list });
  }
  return out;
}

/** What the host holds of its own, as its answer says: its jails' bans and its own allow entries. */
export function expectedOfReply(reply: ElementsReply): ExpectedElement[] {
  return [
    ...reply.local.map((l) => ({ set: banSetName("local", l.address), element: l.address, expiresAt: l.expiresAt, from: `local:${l.jail}` })),
    ...reply.own.map((o) => ({ set: o.set, element: o.element, expiresAt: Infinity, from: "own" })),
  ];
}

/** The last element known on one side of a set when that side was cut short, else undefined (all known). */
function bounds(reply: ElementsReply, set: BanSetName): string | undefined {
  const listing = reply.sets.find((s) => s.set === set);
  const known: string[] = [];
  if (listing && listing.elements.length < listing.total) known.push(listing.elements.at(-1)?.element ?? "");
  if (set.startsWith("local") && reply.local.length < reply.localTotal) known.push(reply.local.filter((l) => banSetName("local", l.address) === set).at(-1)?.address ?? "");
  if (set.startsWith("allow") && reply.own.length < reply.ownTotal) known.push(reply.own.filter((o) => o.set === set).at(-1)?.element ?? "");
  return known.length === 0 ? undefined : (known.sort(compareElements)[0] as string);
}

/**
 * The kernel's elements (as the host's answer lists them) against what the host should hold:
 * each element in force, covered (a network inside another the set holds, as the agent plans
 * interval sets), MISSING from the kernel, REFUSED by nft (with its reason), or EXTRA in the kernel.
 * Beyond what the answer listed nothing is judged, only counted, and up to its cursor (a page after
 * the first) nothing is looked at. Pure; `now` is the CLI's clock.
 */
export function compareKernel(reply: ElementsReply, expected: readonly ExpectedElement[], now: number): ElementComparison {
  const at = Date.parse(reply.at);
  const rows: ElementRow[] = [];
  let notCompared = 0;
  for (const set of BAN_SET_NAMES) {
    const bound = bounds(reply, set);
    const beyond = (e: string) => bound !== undefined && compareElements(e, bound) > 0;
    const all = merged(expected.filter((e) => e.set === set));
    const want = new Map([...all].filter(([element]) => isPast(reply.after, set, element)));
    const kernel = new Map((reply.sets.find((s) => s.set === set)?.elements ?? []).map((k) => [k.element, k.expiresInMs === undefined ? null : at + k.expiresInMs]));
    const refused = new Map(reply.refused.filter((r) => r.set === set).map((r) => [r.element, r.error]));
    for (const [element, w] of want) {
      const expectedExpiresAt = w.expiresAt === Infinity ? null : w.expiresAt;
      const base = { set, element, from: w.from, expectedExpiresAt };
      if (kernel.has(element)) {
        const kernelExpiresAt = kernel.get(element) as number | null;
        rows.push({ ...base, state: w.from.every((f) => f === "own") ? "own" : "in force", kernelExpiresAt, ...expiryDetail(expectedExpiresAt, kernelExpiresAt) });
      } else if (beyond(element) || w.expiresAt <= now + SOON_MS) notCompared += 1;
      else if (refused.has(element)) rows.push({ ...base, state: "REFUSED", detail: refused.get(element) as string });
      else {
        // inside a network of the decisions, or one the kernel still holds (a decision that just
        // ended: its element times out at the next whole second, and what it covered goes in then)
        const cover = coveredBy(element, set, all) ?? coveredBy(element, set, kernel);
        rows.push(cover ? { ...base, state: "covered", detail: `inside ${cover}` } : { ...base, state: "MISSING" });
      }
    }
    for (const [element, kernelExpiresAt] of kernel) {
      if (want.has(element)) continue;
      if (kernelExpiresAt !== null && kernelExpiresAt <= Math.max(at, now) + SOON_MS) notCompared += 1;
      else rows.push({ set, element, state: "EXTRA", from: [], kernelExpiresAt });
    }
    // refused for a decision the CLI does not see (gone meanwhile, or not for this host's labels)
    for (const [element, error] of refused) if (!want.has(element) && !kernel.has(element)) rows.push({ set, element, state: "REFUSED", from: [], detail: error });
  }
  const counts = { "in force": 0, own: 0, covered: 0, MISSING: 0, REFUSED: 0, EXTRA: 0 };
  for (const r of rows) counts[r.state] += 1;
  rows.sort((a, b) => BAN_SET_NAMES.indexOf(a.set) - BAN_SET_NAMES.indexOf(b.set) || compareElements(a.element, b.element));
  return { rows, counts, notCompared };
}

/** One entry per element: the latest expiry of those asking for it (the agent does the same), every source. */
function merged(entries: readonly ExpectedElement[]): Map<string, { expiresAt: number; from: string[] }> {
  const out = new Map<string, { expiresAt: number; from: string[] }>();
  for (const e of entries) {
    const had = out.get(e.element);
    if (!had) out.set(e.element, { expiresAt: e.expiresAt, from: [e.from] });
    else {
      had.expiresAt = Math.max(had.expiresAt, e.expiresAt);
      if (!had.from.includes(e.from)) had.from.push(e.from);
    }
  }
  return out;
}

/** In an interval set, the other wanted network that holds `element`, if any (the agent leaves nested ones out). */
function coveredBy(element: string, set: BanSetName, want: ReadonlyMap<string, unknown>): string | undefined {
  if (!set.startsWith("allow") && !set.startsWith("net")) return undefined;
  const inner = parseCidr(element);
  for (const other of want.keys()) if (other !== element && cidrContains(parseCidr(other), inner)) return other;
  return undefined;
}

function expiryDetail(expected: number | null, kernel: number | null): { detail?: string } {
  if (expected === null && kernel === null) return {};
  if (kernel === null) return { detail: "no timeout in the kernel" };
  if (expected === null) return { detail: "the kernel drops it, the decisions never end" };
  return Math.abs(kernel - expected) > EXPIRY_SLACK_MS ? { detail: `the kernel drops it at ${new Date(kernel).toISOString()}` } : {};
}

/**
 * Where the next page starts when this answer was cut short: at the first set (in listing order) it
 * did not list to the end, after its last element listed; undefined when it listed everything. (Own
 * entries come whole with every page, up to their cap; past it they are not judged.)
 * Later sets' first elements may be listed again on the next page (the limit is shared).
 */
export function nextCursor(reply: ElementsReply): { set: BanSetName; element: string } | undefined {
  const cuts: { set: BanSetName; element: string }[] = [];
  for (const s of reply.sets) {
    if (s.elements.length < s.total) cuts.push(s.elements.length > 0 ? { set: s.set, element: (s.elements.at(-1) as { element: string }).element } : before(s.set));
  }
  const lastLocal = reply.local.at(-1);
  if (reply.local.length < reply.localTotal) cuts.push(lastLocal ? { set: banSetName("local", lastLocal.address), element: lastLocal.address } : before("local4"));
  cuts.sort((a, b) => BAN_SET_NAMES.indexOf(a.set) - BAN_SET_NAMES.indexOf(b.set) || compareElements(a.element, b.element));
  return cuts[0];
}

/** A cursor before every element of `set`: the previous set's end, or the first set with the lowest text. */
function before(set: BanSetName): { set: BanSetName; element: string } {
  const i = BAN_SET_NAMES.indexOf(set);
  // "0" sorts before every address and network ("0.0.0.0" and "::" come after it)
  return i === 0 ? { set, element: "0" } : { set: BAN_SET_NAMES[i - 1] as BanSetName, element: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128" };
}
