import type { RulesetIR } from "@fleetwall/api";

/** One rule of a chain and the comment read-back finds it by. */
export type Line = { text: string; comment: string };

/**
 * Traffic the agent lets through whatever the policies say. Management SSH from the management
 * sources, the NATS connection and DHCP are accepted before every policy rule. Without management
 * sources, SSH from anywhere is accepted after the policies' rules and before the default: a
 * default drop never cuts it, while the policies' own rules on the SSH port (rate limits, Deny,
 * per-source Allow) apply.
 */
export interface Failsafe {
  /** Inbound management SSH ports; empty disables the rule. */
  sshPorts: number[];
  /** Management sources: SSH from them is accepted before any policy rule. Empty: SSH from anywhere, after the policies. */
  sshSources: { ip: string[]; ip6: string[] };
  /** The agent's NATS servers (address or empty for name-only URLs, port). */
  nats: { address?: string; family?: "ip" | "ip6"; port: number }[];
  /** DHCP and DHCPv6 client traffic. */
  dhcp: boolean;
}

const anySource = (f: Failsafe) => f.sshSources.ip.length === 0 && f.sshSources.ip6.length === 0;

/** After the policies, before the default: SSH from anywhere, when no management sources are named. */
export function failsafeSsh(f: Failsafe): Line[] {
  if (f.sshPorts.length === 0 || !anySource(f)) return [];
  return [{ text: `tcp dport ${set(f.sshPorts.map(String))} accept`, comment: "failsafe/ssh" }];
}

/**
 * What the failsafe overrides in this ruleset, one sentence each, for `render` and operators. Pure.
 */
export function failsafeNotes(ruleset: RulesetIR, f: Failsafe): string[] {
  if (ruleset.policies.length === 0) return [];
  const notes: string[] = [];
  const ports = f.sshPorts.join(", ");
  if (f.sshPorts.length > 0 && !anySource(f)) {
    notes.push(`failsafe/ssh-v4, failsafe/ssh-v6: SSH (tcp ${ports}) from the management sources ${[...f.sshSources.ip, ...f.sshSources.ip6].join(", ")} is accepted before every policy rule: no policy rule (rate limit, Deny) and no ban applies to it`);
  } else if (f.sshPorts.length > 0) {
    const drops = ruleset.defaultInput.verdict !== "accept";
    notes.push(`failsafe/ssh: SSH (tcp ${ports}) that no policy rule matched is accepted${drops ? ` instead of the default ${ruleset.defaultInput.verdict}` : ""}; the policies' own rules on it (rate limits, Deny, per-source Allow) apply first`);
  }
  f.nats.forEach((n, i) => notes.push(`failsafe/nats-${i}: the agent's NATS connection (${n.address ?? "any address"}, tcp ${n.port}) is accepted before every policy rule`));
  if (f.dhcp) notes.push("failsafe/dhcp, failsafe/dhcpv6: DHCP client traffic is accepted before every policy rule");
  return notes;
}

export function failsafeIn(f: Failsafe): Line[] {
  const lines: Line[] = [];
  if (f.sshPorts.length > 0) {
    const ports = `tcp dport ${set(f.sshPorts.map(String))}`;
    if (f.sshSources.ip.length) lines.push({ text: `ip saddr ${set(f.sshSources.ip)} ${ports} accept`, comment: "failsafe/ssh-v4" });
    if (f.sshSources.ip6.length) lines.push({ text: `ip6 saddr ${set(f.sshSources.ip6)} ${ports} accept`, comment: "failsafe/ssh-v6" });
  }
  f.nats.forEach((n, i) => {
    const addr = n.address ? `${n.family} saddr ${n.address} ` : "";
    lines.push({ text: `${addr}tcp sport ${n.port} ct state established accept`, comment: `failsafe/nats-${i}` });
  });
  if (f.dhcp) {
    lines.push({ text: "udp sport 67 udp dport 68 accept", comment: "failsafe/dhcp" });
    lines.push({ text: "ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept", comment: "failsafe/dhcpv6" });
  }
  return lines;
}

export function failsafeOut(f: Failsafe): Line[] {
  const lines: Line[] = [];
  if (f.sshPorts.length > 0) lines.push({ text: `tcp sport ${set(f.sshPorts.map(String))} ct state established accept`, comment: "failsafe/ssh" });
  f.nats.forEach((n, i) => {
    const addr = n.address ? `${n.family} daddr ${n.address} ` : "";
    lines.push({ text: `${addr}tcp dport ${n.port} accept`, comment: `failsafe/nats-${i}` });
  });
  if (f.dhcp) {
    lines.push({ text: "udp sport 68 udp dport 67 accept", comment: "failsafe/dhcp" });
    lines.push({ text: "udp sport 546 udp dport 547 accept", comment: "failsafe/dhcpv6" });
  }
  return lines;
}


function set(items: readonly string[]): string {
  return items.length === 1 ? (items[0] as string) : `{ ${items.join(", ")} }`;
}
