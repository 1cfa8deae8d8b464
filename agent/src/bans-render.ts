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

/**
 * One nft transaction for a batch of changes. A fresh upsert is a plain add. Otherwise upsert and
 * remove both first add the element (so it exists), then delete it, which never fails on a missing element and resets a changed timeout;
 * an upsert then adds it back with its new timeout. Pure.
 */
export function renderBanOps(ops: readonly BanOp[]): string {
  const lines: string[] = [];
  const fresh = new Map<string, string[]>();
  const element = (o: BanOp) => `${o.element}${o.timeoutSeconds !== undefined ? ` timeout ${Math.max(1, Math.ceil(o.timeoutSeconds))}s` : ""}`;
  for (const o of ops) {
    const target = `inet ${BANS_TABLE} ${setName(o.kind, o.family)}`;
    if (o.op === "upsert" && o.fresh) {
      // fresh elements of one set go out as one statement: nft parses one big set literal fastest
      const list = fresh.get(target) ?? [];
      list.push(element(o));
      fresh.set(target, list);
      continue;
    }
    lines.push(`add element ${target} { ${o.element} }`);
    lines.push(`delete element ${target} { ${o.element} }`);
    if (o.op === "upsert") lines.push(`add element ${target} { ${element(o)} }`);
  }
  for (const [target, els] of fresh) lines.push(`add element ${target} { ${els.join(", ")} }`);
  return `${lines.join("\n")}\n`;
}
