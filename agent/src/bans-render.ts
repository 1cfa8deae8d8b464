import type { Family } from "@fleetwall/api";
import type { BanElement } from "./backend.js";

export const BANS_TABLE = "fleetwall_bans";

/** The sets of the bans table: allow and net are interval sets, ban and local hash sets. */
export type BanSetKind = "allow" | "ban" | "net" | "local";
const KINDS: readonly BanSetKind[] = ["allow", "ban", "net", "local"];
const INTERVAL: ReadonlySet<BanSetKind> = new Set(["allow", "net"]);

export const isIntervalSet = (kind: BanSetKind): boolean => INTERVAL.has(kind);

/**
 * The bans table, made when missing and otherwise never reloaded as a whole (a rebuild writes every
 * element back with its remaining time), so no ban's timeout is reset by a rules change. `elements`
 * fill it in the same transaction (a rebuild).
 */
export function bansTableScript(elements: readonly BanElement[] = []): string {
  const byIndex: string[][] = KINDS.flatMap(() => [[], []]);
  for (const e of elements) (byIndex[setIndex(e.kind, e.family)] as string[]).push(elementText(e));
  const sets = KINDS.flatMap((kind) =>
    (["ip", "ip6"] as const).map((f) => {
      const type = f === "ip" ? "ipv4_addr" : "ipv6_addr";
      const els = byIndex[setIndex(kind, f)] as string[];
      const body = els.length > 0 ? `\n\t\telements = { ${els.join(", ")} }` : "";
      return `\tset ${setName(kind, f)} {\n\t\ttype ${type}\n\t\tflags ${isIntervalSet(kind) ? "interval,timeout" : "timeout"}${body}\n\t}`;
    }),
  );
  const rules = [
    `iif "lo" accept comment "loopback"`,
    `ip saddr @allow4 accept comment "allowlist"`,
    `ip6 saddr @allow6 accept comment "allowlist"`,
    `ip saddr @ban4 counter drop comment "banned"`,
    `ip saddr @net4 counter drop comment "banned networks"`,
    `ip saddr @local4 counter drop comment "banned here"`,
    `ip6 saddr @ban6 counter drop comment "banned"`,
    `ip6 saddr @net6 counter drop comment "banned networks"`,
    `ip6 saddr @local6 counter drop comment "banned here"`,
  ];
  // priority filter - 10: before the policy table, so a banned source never reaches a policy accept
  return `table inet ${BANS_TABLE} {\n${sets.join("\n")}\n\tchain input {\n\t\ttype filter hook input priority filter - 10; policy accept;\n${rules.map((r) => `\t\t${r}`).join("\n")}\n\t}\n}\n`;
}

/** One transaction that replaces the bans table by one holding exactly `elements`. */
export function replaceBansScript(elements: readonly BanElement[]): string {
  return `table inet ${BANS_TABLE} {}\ndelete table inet ${BANS_TABLE}\n${bansTableScript(elements)}`;
}

/** The sets and the chain's rule comments the bans table must have (what `nft -t` lists, without elements). */
export function expectedBansLayout(): { sets: string[]; rules: string[] } {
  const sets = KINDS.flatMap((k) => [setName(k, "ip"), setName(k, "ip6")]).sort();
  const script = bansTableScript();
  const rules = [...script.matchAll(/comment "([^"]*)"/g)].map((m) => m[1] as string);
  return { sets, rules };
}

export function setName(kind: BanSetKind, family: Family): string {
  return `${kind}${family === "ip" ? 4 : 6}`;
}

export interface BanOp {
  op: "upsert" | "remove";
  kind: BanSetKind;
  family: Family;
  /** Canonical address (ban, local) or CIDR (allow, net). */
  element: string;
  /** Seconds until the element expires; undefined for never (upsert only). */
  timeoutSeconds?: number;
  /** Not known to be in the kernel yet: a plain add is enough. */
  fresh?: boolean;
}

/**
 * One nft transaction for a batch of changes. A fresh upsert is a plain add. Otherwise upsert and
 * remove both first add the element (so it exists), then delete it, which never fails on a missing
 * element and resets a changed timeout; an upsert then adds it back with its new timeout. Removals
 * and changes come before fresh adds, so a network that replaces the ones it covers goes in after
 * they left (an interval set refuses overlapping elements). Pure.
 */
export function renderBanOps(ops: readonly BanOp[]): string {
  const lines: string[] = [];
  // fresh elements of one set go out as one statement: nft parses one big set literal fastest;
  // the sets by index, so a bulk load builds no set name per element
  const fresh: string[][] = KINDS.flatMap(() => [[], []]);
  for (const o of ops) {
    if (o.op === "upsert" && o.fresh) {
      (fresh[setIndex(o.kind, o.family)] as string[]).push(elementText(o));
      continue;
    }
    const target = setTarget(o.kind, o.family);
    lines.push(`add element ${target} { ${o.element} }`);
    lines.push(`delete element ${target} { ${o.element} }`);
    if (o.op === "upsert") lines.push(`add element ${target} { ${elementText(o)} }`);
  }
  fresh.forEach((els, i) => {
    if (els.length > 0) lines.push(`add element ${setTarget(KINDS[i >> 1] as BanSetKind, i & 1 ? "ip6" : "ip")} { ${els.join(", ")} }`);
  });
  return `${lines.join("\n")}\n`;
}

function setIndex(kind: BanSetKind, family: Family): number {
  return KINDS.indexOf(kind) * 2 + (family === "ip" ? 0 : 1);
}

function setTarget(kind: BanSetKind, family: Family): string {
  return `inet ${BANS_TABLE} ${setName(kind, family)}`;
}

function elementText(o: { element: string; timeoutSeconds?: number }): string {
  // in ms: an element expires when its decision does, not up to a second later
  return o.timeoutSeconds === undefined ? o.element : `${o.element} timeout ${timeoutText(timeoutMs(o.timeoutSeconds))}`;
}

/**
 * The longest timeout an element is given: 49,000 days, below 2^32 seconds (about 49,710 days), the
 * smallest limit a kernel puts on set timeouts. A longer decision (the API caps BanList lifetimes at
 * 10 years, so only `expires` far ahead gets here) is re-added by the next reconcile long before.
 */
export const MAX_TIMEOUT_MS = 49_000 * 86_400_000;

/** The timeout nft is given for `seconds`: whole ms, at least one, at most MAX_TIMEOUT_MS. */
export function timeoutMs(seconds: number): number {
  return Math.min(MAX_TIMEOUT_MS, Math.max(1, Math.ceil(seconds * 1000)));
}

const TIME_UNITS: readonly [string, number][] = [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000], ["ms", 1]];

/**
 * A timeout as nft's time text in parts (`2d3h0m5s12ms` less the zero parts). nft 1.0 refuses a single
 * number above 99,999,999 (`172800000ms`, two days, is "value too large"), so one unit is not enough.
 */
export function timeoutText(ms: number): string {
  let rest = Math.max(1, Math.round(ms));
  let text = "";
  for (const [unit, size] of TIME_UNITS) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) text += `${n}${unit}`;
  }
  return text;
}
