import type { Family } from "@fleetwall/api";

export const BANS_TABLE = "fleetwall_bans";

/** The bans table, created once and never reloaded as a whole, so no ban's timeout is ever reset. */
export function bansTableScript(): string {
  const sets = (["ip", "ip6"] as const).flatMap((f) => {
    const type = f === "ip" ? "ipv4_addr" : "ipv6_addr";
    return [`\tset ${setName("allow", f)} {\n\t\ttype ${type}\n\t\tflags interval,timeout\n\t}`, `\tset ${setName("ban", f)} {\n\t\ttype ${type}\n\t\tflags timeout\n\t}`, `\tset ${setName("net", f)} {\n\t\ttype ${type}\n\t\tflags interval,timeout\n\t}`];
  });
  const rules = [
    `iif "lo" accept comment "loopback"`,
    `ip saddr @allow4 accept comment "allowlist"`,
    `ip6 saddr @allow6 accept comment "allowlist"`,
    `ip saddr @ban4 counter drop comment "banned"`,
    `ip saddr @net4 counter drop comment "banned networks"`,
    `ip6 saddr @ban6 counter drop comment "banned"`,
    `ip6 saddr @net6 counter drop comment "banned networks"`,
  ];
  // priority filter - 10: before the policy table, so a banned source never reaches a policy accept
  return `table inet ${BANS_TABLE} {\n${sets.join("\n")}\n\tchain input {\n\t\ttype filter hook input priority filter - 10; policy accept;\n${rules.map((r) => `\t\t${r}`).join("\n")}\n\t}\n}\n`;
}

export type BanSetKind = "allow" | "ban" | "net";

export function setName(kind: BanSetKind, family: Family): string {
  return `${kind}${family === "ip" ? 4 : 6}`;
}

export interface BanOp {
  op: "upsert" | "remove";
  kind: BanSetKind;
  family: Family;
  /** Canonical address (ban) or CIDR (allow, net). */
  element: string;
  /** Seconds until the element expires; undefined for never (upsert only). */
  timeoutSeconds?: number;
  /** Not known to be in the kernel yet: a plain add is enough. */
  fresh?: boolean;
}

const KINDS: readonly BanSetKind[] = ["allow", "ban", "net"];

/**
 * One nft transaction for a batch of changes. A fresh upsert is a plain add. Otherwise upsert and
 * remove both first add the element (so it exists), then delete it, which never fails on a missing element and resets a changed timeout;
 * an upsert then adds it back with its new timeout. Pure.
 */
export function renderBanOps(ops: readonly BanOp[]): string {
  const lines: string[] = [];
  // fresh elements of one set go out as one statement: nft parses one big set literal fastest;
  // the six sets by index, so a bulk load builds no set name per element
  const fresh: string[][] = [[], [], [], [], [], []];
  for (const o of ops) {
    if (o.op === "upsert" && o.fresh) {
      (fresh[setIndex(o)] as string[]).push(elementText(o));
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

function setIndex(o: BanOp): number {
  return (o.kind === "allow" ? 0 : o.kind === "ban" ? 2 : 4) + (o.family === "ip" ? 0 : 1);
}

function setTarget(kind: BanSetKind, family: Family): string {
  return `inet ${BANS_TABLE} ${setName(kind, family)}`;
}

function elementText(o: BanOp): string {
  return o.timeoutSeconds === undefined ? o.element : `${o.element} timeout ${Math.max(1, Math.ceil(o.timeoutSeconds))}s`;
}
