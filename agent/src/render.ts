import type { LogIR, MatchIR, PolicyIR, RuleIR, RulesetIR, VerdictIR } from "@fleetwall/api";
import { COMMENT_MAX_BYTES, LOG_PREFIX_MAX_BYTES, cutBytes, objectName } from "./nft-limits.js";
import { failsafeIn, failsafeOut, failsafeSsh, type Failsafe, type Line } from "./failsafe-render.js";

export { failsafeNotes, type Failsafe } from "./failsafe-render.js";

export const TABLE = "fleetwall";
export const FAMILY = "inet";

export interface Rendered {
  /** One `nft -f` transaction replacing the table atomically (or removing it when nothing applies). */
  script: string;
  /** Chain name → rule comments in order: what a read-back must find. Empty when the table is absent. */
  expected: Record<string, string[]>;
}


/**
 * Renders the IR and the failsafe into one nftables transaction for table `inet fleetwall`. Pure.
 * An IR with no policies removes the table: a host no policy selects is left untouched.
 */
export function render(ruleset: RulesetIR, failsafe: Failsafe): Rendered {
  const reset = `table ${FAMILY} ${TABLE} {}\ndelete table ${FAMILY} ${TABLE}\n`;
  if (ruleset.policies.length === 0) return { script: reset, expected: {} };

  const decls: string[] = [];
  const chains: [string, string | undefined, Line[]][] = [];
  const helpers = new Map<string, Line[]>();
  const ctx: RenderContext = { decls, helpers };

  chains.push(["failsafe_in", undefined, failsafeIn(failsafe)]);
  chains.push(["failsafe_ssh", undefined, failsafeSsh(failsafe)]);
  chains.push(["failsafe_out", undefined, failsafeOut(failsafe)]);
  for (const policy of ruleset.policies) {
    chains.push([chainName("in", policy.name), undefined, policyChain(policy, "input", ctx)]);
    chains.push([chainName("out", policy.name), undefined, policyChain(policy, "output", ctx)]);
  }
  chains.push(["input", "type filter hook input priority filter; policy accept;", inputChain(ruleset, ctx)]);
  chains.push(["output", "type filter hook output priority filter; policy accept;", outputChain(ruleset, ctx)]);

  const all: [string, string | undefined, Line[]][] = [...[...helpers.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, l]) => [n, undefined, l] as [string, undefined, Line[]]), ...chains];
  const body: string[] = [...decls];
  const expected: Record<string, string[]> = {};
  for (const [name, hook, lines] of all) {
    body.push(`\tchain ${name} {`);
    if (hook) body.push(`\t\t${hook}`);
    for (const l of lines) body.push(`\t\t${l.text} comment "${l.comment}"`);
    body.push("\t}");
    expected[name] = lines.map((l) => l.comment);
  }
  return { script: `${reset}table ${FAMILY} ${TABLE} {\n${body.join("\n")}\n}\n`, expected };
}

interface RenderContext {
  decls: string[];
  helpers: Map<string, Line[]>;
}

export function chainName(direction: "in" | "out", policy: string): string {
  return objectName(`${direction}_${policy}`);
}

export function auditCounterName(policy: string): string {
  return objectName(`audit_${policy}`);
}

export function comment(text: string): string {
  return cutBytes(text, COMMENT_MAX_BYTES);
}

function inputChain(r: RulesetIR, ctx: RenderContext): Line[] {
  const lines: Line[] = [];
  const b = r.baseline;
  if (b.loopback) {
    lines.push({ text: 'iif "lo" accept', comment: "baseline/loopback" });
    lines.push({ text: 'iif != "lo" ip daddr 127.0.0.0/8 counter drop', comment: "baseline/loopback-spoof-v4" });
    lines.push({ text: 'iif != "lo" ip6 daddr ::1 counter drop', comment: "baseline/loopback-spoof-v6" });
  }
  // XMAS and NULL first: conntrack would also call them invalid, but their own counters tell the operator what was seen.
  if (b.badTcpFlags) {
    lines.push({ text: "tcp flags & (fin|syn|rst|psh|ack|urg) == fin|syn|rst|psh|ack|urg counter drop", comment: "baseline/xmas" });
    lines.push({ text: "tcp flags & (fin|syn|rst|psh|ack|urg) == 0x0 counter drop", comment: "baseline/null" });
  }
  if (b.dropInvalid) lines.push({ text: "ct state invalid counter drop", comment: "baseline/invalid" });
  if (b.badTcpFlags) lines.push({ text: "tcp flags & (fin|syn|rst|ack) != syn ct state new counter drop", comment: "baseline/new-not-syn" });
  if (b.established) lines.push({ text: "ct state established,related accept", comment: "baseline/established" });
  lines.push({ text: "jump failsafe_in", comment: "failsafe" });
  for (const p of r.policies) lines.push({ text: `jump ${chainName("in", p.name)}`, comment: comment(`policy/${p.name}`) });
  lines.push({ text: "jump failsafe_ssh", comment: "failsafe/ssh" });
  lines.push(...defaultLines(r.defaultInput.verdict, r.defaultInput.log, "default/input", ctx));
  return lines;
}

function outputChain(r: RulesetIR, ctx: RenderContext): Line[] {
  const lines: Line[] = [];
  if (r.baseline.loopback) lines.push({ text: 'oif "lo" accept', comment: "baseline/loopback" });
  if (r.baseline.established) lines.push({ text: "ct state established,related accept", comment: "baseline/established" });
  // Whatever egress says, the host keeps sending ICMP errors and doing IPv6 neighbour discovery and
  // MLD (RFC 4890): without them path MTU discovery and IPv6 itself stop working.
  lines.push({ text: "icmp type { destination-unreachable, time-exceeded, parameter-problem } accept", comment: "baseline/icmp-out" });
  lines.push({
    text: "icmpv6 type { destination-unreachable, packet-too-big, time-exceeded, parameter-problem, mld-listener-report, mld-listener-done, nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld2-listener-report } accept",
    comment: "baseline/icmpv6-out",
  });
  lines.push({ text: "jump failsafe_out", comment: "failsafe" });
  for (const p of r.policies) lines.push({ text: `jump ${chainName("out", p.name)}`, comment: comment(`policy/${p.name}`) });
  lines.push(...defaultLines(r.defaultOutput.verdict, r.defaultOutput.log, "default/output", ctx));
  return lines;
}

function defaultLines(v: VerdictIR, log: LogIR | undefined, name: string, ctx: RenderContext): Line[] {
  if (v === "accept") return [{ text: "counter accept", comment: name }];
  return [{ text: `counter ${verdictStatement(v, log, ctx)}`, comment: name }];
}

/** The statement that ends a packet: plain, or a jump to a helper chain that logs (rate-limited) and/or rejects. */
function verdictStatement(v: VerdictIR, log: LogIR | undefined, ctx: RenderContext): string {
  if (v === "accept") return "accept";
  if (v === "drop" && !log) return "drop";
  const name = helperChain(v, log, ctx);
  return `jump ${name}`;
}

function helperChain(v: "drop" | "reject", log: LogIR | undefined, ctx: RenderContext): string {
  const key = log ? `${v}_log_${logKey(log)}` : v;
  const name = `fw_${key}`;
  if (!ctx.helpers.has(name)) {
    const lines: Line[] = [];
    if (log) lines.push(logLine(log));
    if (v === "reject") {
      lines.push({ text: "meta l4proto tcp reject with tcp reset", comment: "reject/tcp" });
      lines.push({ text: "reject with icmpx type port-unreachable", comment: "reject/other" });
    } else {
      lines.push({ text: "drop", comment: "drop" });
    }
    ctx.helpers.set(name, lines);
  }
  return name;
}

function logLine(log: LogIR): Line {
  return { text: `limit rate ${log.rate} log prefix "${cutBytes(log.prefix, LOG_PREFIX_MAX_BYTES)}" level info`, comment: "log" };
}

/** A short stable id for a log setting, so equal settings share one helper chain. */
function logKey(log: LogIR): string {
  let h = 0;
  for (const ch of `${log.prefix}\u0000${log.rate}`) h = (Math.imul(h, 31) + ch.charCodeAt(0)) >>> 0;
  return h.toString(16).padStart(8, "0");
}

function policyChain(policy: PolicyIR, hook: "input" | "output", ctx: RenderContext): Line[] {
  const rules = hook === "input" ? policy.input : policy.output;
  const audit = policy.mode === "audit";
  const lines: Line[] = [];
  rules.forEach((rule, index) => {
    const id = comment(`${policy.name}/${rule.name}${rule.comment ? `: ${rule.comment}` : ""}`);
    const named = (fam: Fam, key: "saddr" | "daddr", items: readonly string[]) => addressSet(ctx, `${hook === "input" ? "in" : "out"}_${policy.name}_${index}_${key[0]}${fam === "ip" ? 4 : 6}`, fam, items);
    for (const { family, text: match } of matchVariants(rule.match, named)) {
      if (rule.rateLimit) lines.push(...rateLimitLines(policy, hook, index, rule, match, family, audit, ctx));
      const counter = rule.counter ? "counter " : "";
      const limit = rule.limit ? `limit rate ${rule.limit} ` : "";
      lines.push({ text: `${match}${limit}${counter}${ruleVerdict(rule, policy, audit, ctx)}`.trim(), comment: id });
    }
  });
  if (audit) {
    const def = hook === "input" ? policy.defaultInput : policy.defaultOutput;
    if (def !== "accept") lines.push({ text: auditStatement(policy, ctx), comment: comment(`${policy.name}/default (audit)`) });
  }
  return lines;
}

function ruleVerdict(rule: RuleIR, policy: PolicyIR, audit: boolean, ctx: RenderContext): string {
  switch (rule.action) {
    case "accept":
      return audit ? "return" : "accept";
    case "log":
      return logHelper(rule.log ?? { prefix: `fleetwall ${rule.name}: `, rate: "5/minute" }, ctx);
    case "drop":
    case "reject":
      return audit ? auditStatement(policy, ctx) : verdictStatement(rule.action, rule.log, ctx);
  }
}

function logHelper(log: LogIR, ctx: RenderContext): string {
  const name = `fw_log_${logKey(log)}`;
  if (!ctx.helpers.has(name)) ctx.helpers.set(name, [logLine(log)]);
  return `jump ${name}`;
}

/** Audit policies count a would-be drop in a named counter, log it, and pass the packet on. */
function auditStatement(policy: PolicyIR, ctx: RenderContext): string {
  const counter = auditCounterName(policy.name);
  const decl = `\tcounter ${counter} {\n\t}`;
  if (!ctx.decls.includes(decl)) ctx.decls.push(decl);
  const log = policy.log ?? { prefix: `fleetwall audit ${policy.name}: `, rate: "5/minute" };
  const name = `fw_audit_${logKey(log)}`;
  if (!ctx.helpers.has(name)) ctx.helpers.set(name, [logLine(log)]);
  return `counter name "${counter}" jump ${name}`;
}

function rateLimitLines(policy: PolicyIR, hook: string, index: number, rule: RuleIR, match: string, family: Fam | undefined, audit: boolean, ctx: RenderContext): Line[] {
  const rl = rule.rateLimit as NonNullable<RuleIR["rateLimit"]>;
  const rate = rateExpression(rl.newConnections, rl.perSeconds);
  const fams = family ? [family] : rule.match.families;
  const lines: Line[] = [];
  for (const fam of fams) {
    const setName = objectName(`rl${fam === "ip" ? 4 : 6}_${hook === "input" ? "in" : "out"}_${policy.name}_${index}`);
    const type = fam === "ip" ? "ipv4_addr" : "ipv6_addr";
    ctx.decls.push(`\tset ${setName} {\n\t\ttype ${type}\n\t\tsize 65535\n\t\tflags dynamic,timeout\n\t\ttimeout ${rl.perSeconds}s\n\t}`);
    const key = hook === "input" ? "saddr" : "daddr";
    const verdict = audit ? auditStatement(policy, ctx) : "drop";
    lines.push({
      text: `${match}ct state new update @${setName} { ${fam} ${key} limit rate over ${rate} burst ${rl.newConnections} packets } counter ${verdict}`,
      comment: comment(`${policy.name}/${rule.name} rate-limit ${fam === "ip" ? "v4" : "v6"}`),
    });
  }
  return lines;
}

/** `newConnections` per `perSeconds` as an nft rate with a whole number and the smallest unit that fits. */
export function rateExpression(count: number, perSeconds: number): string {
  for (const [unit, secs] of [["second", 1], ["minute", 60], ["hour", 3600], ["day", 86400]] as const) {
    const n = (count * secs) / perSeconds;
    if (Number.isInteger(n)) return `${n}/${unit}`;
  }
  return `${Math.max(1, Math.ceil((count * 86400) / perSeconds))}/day`;
}

/** One match text per address family the rule needs (one when it names no addresses). */
type Fam = "ip" | "ip6";

/**
 * Address lists longer than this render as a named interval set in the policy table rather than an
 * anonymous set inside the rule: the read-back and drift listing (`nft -t`) then leave the elements
 * out, so a rule of 10,000 sources costs the agent's periodic check nothing.
 */
export const NAMED_SET_MIN = 64;

/** Declares a named interval set of addresses (canonical, non-overlapping: compile made them so) and returns `@name`. */
function addressSet(ctx: RenderContext, name: string, fam: Fam, items: readonly string[]): string {
  const setName = `a_${name}`;
  ctx.decls.push(`\tset ${setName} {\n\t\ttype ${fam === "ip" ? "ipv4_addr" : "ipv6_addr"}\n\t\tflags interval\n\t\telements = { ${items.join(", ")} }\n\t}`);
  return `@${setName}`;
}

type NamedSet = (fam: Fam, key: "saddr" | "daddr", items: readonly string[]) => string;

/** An address list as nft text: inline (one address or an anonymous set), or a named set when long. */
function addresses(items: readonly string[], fam: Fam, key: "saddr" | "daddr", named: NamedSet | undefined): string {
  return named && items.length > NAMED_SET_MIN ? named(fam, key, items) : set(items);
}

export function matchVariants(m: MatchIR, named?: NamedSet): { family: Fam | undefined; text: string }[] {
  const hasAddr = (m.saddr && (m.saddr.ip.length || m.saddr.ip6.length)) || (m.daddr && (m.daddr.ip.length || m.daddr.ip6.length));
  const families: (Fam | undefined)[] = hasAddr || m.families.length === 1 ? m.families : [undefined];
  return families.map((fam) => {
    const parts: string[] = [];
    if (m.iifname) parts.push(`iifname "${m.iifname}"`);
    if (m.oifname) parts.push(`oifname "${m.oifname}"`);
    if (fam && m.saddr) parts.push(`${fam} saddr ${addresses(m.saddr[fam], fam, "saddr", named)}`);
    if (fam && m.daddr) parts.push(`${fam} daddr ${addresses(m.daddr[fam], fam, "daddr", named)}`);
    if (fam && !m.saddr && !m.daddr && !onlyIcmp(m)) parts.push(`meta nfproto ${fam === "ip" ? "ipv4" : "ipv6"}`);
    parts.push(...l4(m));
    if (m.ctState) parts.push(`ct state ${set(m.ctState)}`);
    return { family: fam, text: parts.length ? `${parts.join(" ")} ` : "" };
  });
}

function onlyIcmp(m: MatchIR): boolean {
  return !!m.protocols && m.protocols.every((p) => p === "icmp" || p === "icmpv6");
}

function l4(m: MatchIR): string[] {
  const protos = m.protocols;
  if (!protos) return [];
  const ports = m.dports ? set(m.dports.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`))) : undefined;
  if (protos.length === 1) {
    const p = protos[0] as string;
    if (p === "icmp" || p === "icmpv6") {
      return m.icmpTypes ? [`${p} type ${set(m.icmpTypes.map(String))}`] : [`meta l4proto ${p === "icmp" ? "icmp" : "ipv6-icmp"}`];
    }
    return ports ? [`${p} dport ${ports}`] : [`meta l4proto ${p}`];
  }
  const names = protos.map((p) => (p === "icmpv6" ? "ipv6-icmp" : p));
  const parts = [`meta l4proto ${set(names)}`];
  if (ports) parts.push(`th dport ${ports}`);
  return parts;
}

function set(items: readonly string[]): string {
  return items.length === 1 ? (items[0] as string) : `{ ${items.join(", ")} }`;
}
