import {
  ICMP_PRESETS,
  icmpTypeNumber,
  parseCidr,
  portRange,
  ruleFamilies,
  uncoveredCidrs,
  type IcmpSpec,
  type LogIR,
  type MatchIR,
  type Rule,
  type RuleIR,
} from "@fleetwall/api";

// One rule of a policy (and its ICMP preset) as IR: ports merged, addresses canonical and split by
// family. compile.ts assembles the rules into policies and per-host rulesets.

export function icmpRules(icmp: IcmpSpec): RuleIR[] {
  const preset = typeof icmp === "string" ? icmp : (icmp.preset ?? "None");
  const extra = typeof icmp === "string" ? [] : (icmp.types ?? []);
  const rate = typeof icmp === "string" ? undefined : icmp.rate;
  if (preset === "All") {
    return [icmpRule("icmp-all", { families: ["ip", "ip6"], protocols: ["icmp", "icmpv6"] }, rate)];
  }
  const base: { v4: readonly number[]; v6: readonly number[] } = preset === "None" ? { v4: [], v6: [] } : ICMP_PRESETS[preset];
  const v4 = uniqSorted([...base.v4, ...extra.map((t) => icmpTypeNumber("ip", t)).filter((n) => n !== undefined)]);
  const v6 = uniqSorted([...base.v6, ...extra.map((t) => icmpTypeNumber("ip6", t)).filter((n) => n !== undefined)]);
  const rules: RuleIR[] = [];
  if (v4.length) rules.push(icmpRule("icmp", { families: ["ip"], protocols: ["icmp"], icmpTypes: v4 }, rate));
  if (v6.length) rules.push(icmpRule("icmpv6", { families: ["ip6"], protocols: ["icmpv6"], icmpTypes: v6 }, rate));
  return rules;
}

function icmpRule(name: string, match: MatchIR, rate: string | undefined): RuleIR {
  return { name, action: "accept", match, counter: true, ...(rate ? { limit: rate } : {}) };
}

export function compileRule(rule: Rule, direction: "in" | "out", policyLog: LogIR | undefined): RuleIR {
  const families = ruleFamilies(rule);
  const match: MatchIR = { families };
  if (rule.protocol) match.protocols = [rule.protocol];
  else if (rule.ports?.length) match.protocols = ["tcp", "udp"];
  if (rule.ports?.length) match.dports = mergeRanges(rule.ports.map(portRange));
  if (rule.sources) match.saddr = splitCidrs(rule.sources);
  if (rule.destinations) match.daddr = splitCidrs(rule.destinations);
  if (rule.interface) {
    if (direction === "in") match.iifname = rule.interface;
    else match.oifname = rule.interface;
  }
  if (rule.icmpTypes) {
    const family = rule.protocol === "icmpv6" ? "ip6" : "ip";
    match.icmpTypes = uniqSorted(rule.icmpTypes.map((t) => icmpTypeNumber(family, t) as number));
  }
  if (rule.state) match.ctState = [...new Set(rule.state)].sort();
  const action = rule.action === "Allow" ? "accept" : rule.action === "Deny" ? "drop" : rule.action === "Reject" ? "reject" : "log";
  const out: RuleIR = { name: rule.name, action, match, counter: rule.counter };
  if (rule.rateLimit) out.rateLimit = { ...rule.rateLimit };
  if (action === "log") out.log = policyLog ?? { prefix: `fleetwall ${rule.name}: `, rate: "5/minute" };
  else if (action !== "accept" && policyLog) out.log = policyLog;
  if (rule.comment) out.comment = rule.comment;
  return out;
}

function uniqSorted(values: number[]): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}

/** Sorts and merges overlapping or adjacent port ranges (nft rejects overlapping set elements). */
export function mergeRanges(ranges: [number, number][]): [number, number][] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: [number, number][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

/** Canonical CIDRs by family, sorted, with any CIDR covered by another one removed (O(n log n)). */
export function splitCidrs(list: readonly string[]): { ip: string[]; ip6: string[] } {
  const parsed = list.map(parseCidr);
  const keep = (family: "ip" | "ip6"): string[] => uncoveredCidrs(parsed.filter((c) => c.family === family)).map((c) => c.text).sort();
  return { ip: keep("ip"), ip6: keep("ip6") };
}
