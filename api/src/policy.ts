import { z } from "zod";
import { ICMP_V4_TYPES, ICMP_V6_TYPES, icmpTypeNumber } from "./icmp.js";
import { Jail } from "./jail.js";
import { API_VERSION, Condition, ObjectMeta } from "./meta.js";
import { CidrString, parseCidr, type Family } from "./net.js";
import { LabelSelector } from "./selector.js";
import { SERVICES, servicePort } from "./services.js";
import { strictObject } from "./strict.js";

/** A port 1-65535 as text, no sign, no leading zero. */
const PORT_NUMBER = "([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";
const PORT_RANGE = /^([0-9]+)-([0-9]+)$/;

/**
 * A text port: a number, a range of numbers, or a service name. The API server checks it by this
 * pattern; the zod refinement below checks the same and says what is wrong with the value. A range
 * whose low end is above its high end passes the pattern: only the controller refuses it (a CEL rule
 * on an int-or-string is priced as if the text could be megabytes, and the budget refuses it).
 */
export const PORT_PATTERN = new RegExp(`^(${PORT_NUMBER}(-${PORT_NUMBER})?|${Object.keys(SERVICES).join("|")})$`);
const PORT_TEXT = "a port 1-65535, a range like 9100-9102, or a known service name (docs/policy-language.md)";

/** A port (22), a range ("9100-9102"), or a well-known service name ("ssh"). */
export const PortSpec = z
  .union([z.number().int().min(1).max(65535), z.string().min(1).max(32).meta({ pattern: PORT_PATTERN.source })])
  .superRefine((value, ctx) => {
    if (typeof value === "number") return;
    const range = PORT_RANGE.exec(value);
    if (PORT_PATTERN.test(value)) {
      if (range && Number(range[1]) > Number(range[2])) ctx.addIssue({ code: "custom", message: `port range ${value} starts after it ends` });
      return;
    }
    if (/^[0-9]+$/.test(value)) ctx.addIssue({ code: "custom", message: `port ${value} is outside 1-65535 or has a leading zero` });
    else if (range) ctx.addIssue({ code: "custom", message: `port range ${value} is outside 1-65535 or has a leading zero` });
    else ctx.addIssue({ code: "custom", message: `${JSON.stringify(value)} is not ${PORT_TEXT}` });
  })
  .describe("A port number, a range \"low-high\", or a well-known service name such as ssh, http, https.");
export type PortSpec = z.infer<typeof PortSpec>;

/** Resolves a port spec to an inclusive range. Call only on validated specs. */
export function portRange(spec: PortSpec): [number, number] {
  if (typeof spec === "number") return [spec, spec];
  if (/^[0-9]+$/.test(spec)) return [Number(spec), Number(spec)];
  const range = PORT_RANGE.exec(spec);
  if (range) return [Number(range[1]), Number(range[2])];
  const port = servicePort(spec);
  if (port === undefined) throw new Error(`unknown service ${spec}`);
  return [port, port];
}

export const Protocol = z.enum(["tcp", "udp", "icmp", "icmpv6"]);
export type Protocol = z.infer<typeof Protocol>;

export const RuleAction = z.enum(["Allow", "Deny", "Reject", "Log"]);
export type RuleAction = z.infer<typeof RuleAction>;

export const RateLimit = strictObject({
  newConnections: z.number().int().min(1).max(100000).describe("New connections allowed per source address within perSeconds; more are dropped."),
  perSeconds: z.number().int().min(1).max(86400).describe("Length of the window in seconds."),
})
  .describe("Per-source limit on new connections (the iptables `recent --hitcount` recipe), IPv4 and IPv6.");
export type RateLimit = z.infer<typeof RateLimit>;

/** An ICMP or ICMPv6 type by number or nft name; whether the name exists in the rule's protocol is checked on the rule (by the controller). */
const ICMP_TYPE_NAME = new RegExp(`^(${[...new Set([...Object.keys(ICMP_V4_TYPES), ...Object.keys(ICMP_V6_TYPES)])].join("|")})$`);
const IcmpType = z
  .union([z.number().int().min(0).max(255), z.string().regex(ICMP_TYPE_NAME, "unknown ICMP/ICMPv6 type name")])
  .describe("An ICMP or ICMPv6 type: a number 0-255 or its nft name (echo-request).");

const RuleName = z.string().min(1).max(48).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be lowercase letters, digits and '-'");
/** Text that goes into nft between quotes: no quotes, backslashes or control characters (newlines, escapes). */
const QUOTABLE = /^[^"\\\x00-\x1f\x7f]*$/;
const QUOTABLE_MESSAGE = "must not contain quotes, backslashes or control characters (newlines, tabs, escapes)";
const Comment = z.string().max(100).regex(QUOTABLE, QUOTABLE_MESSAGE);
/** `N/unit`, N from 1 to 999999: nft refuses 0 (and with it every rule of the host), and numbers beyond 64 bits. */
const rateText = (units: string) => new RegExp(`^[1-9][0-9]{0,5}/(${units})$`);

export const Rule = strictObject({
  name: RuleName.describe("Unique name of the rule within its policy; shown in nft listings and counters."),
  action: RuleAction.describe("Allow accepts, Deny drops silently, Reject answers with ICMP/TCP reset, Log logs and continues."),
  protocol: Protocol.optional().describe("Transport protocol. With ports and no protocol, the rule matches TCP and UDP."),
  ports: z.array(PortSpec).max(512).optional().describe("Destination ports, ranges or service names (TCP/UDP only)."),
  sources: z.array(CidrString).max(10000).optional().describe("Source addresses/CIDRs, IPv4 and IPv6 may be mixed."),
  destinations: z.array(CidrString).max(10000).optional().describe("Destination addresses/CIDRs, IPv4 and IPv6 may be mixed."),
  interface: z.string().min(1).max(15).regex(/^[A-Za-z0-9_.:@-]+$/, "invalid interface name").optional().describe("Interface the packet arrives on (ingress) or leaves by (egress)."),
  icmpTypes: z.array(IcmpType).max(64).optional().describe("ICMP or ICMPv6 types, by number or nft name (echo-request); needs protocol icmp or icmpv6."),
  state: z.array(z.enum(["new", "established", "related", "invalid"])).min(1).optional().describe("Connection-tracking states to match."),
  rateLimit: RateLimit.optional(),
  comment: Comment.optional().describe("Free text kept with the nft rule."),
  counter: z.boolean().default(true).describe("Count packets and bytes that match this rule."),
})
  .superRefine((rule, ctx) => {
    const isL4 = rule.protocol === undefined || rule.protocol === "tcp" || rule.protocol === "udp";
    if (rule.ports && rule.ports.length > 0 && !isL4) {
      ctx.addIssue({ code: "custom", path: ["ports"], message: `ports need protocol tcp or udp, not ${rule.protocol}` });
    }
    if (rule.icmpTypes && rule.protocol !== "icmp" && rule.protocol !== "icmpv6") {
      ctx.addIssue({ code: "custom", path: ["icmpTypes"], message: "icmpTypes need protocol icmp or icmpv6" });
    }
    if (rule.icmpTypes && (rule.protocol === "icmp" || rule.protocol === "icmpv6")) {
      const family = rule.protocol === "icmp" ? "ip" : "ip6";
      rule.icmpTypes.forEach((t, i) => {
        if (icmpTypeNumber(family, t) === undefined) {
          ctx.addIssue({ code: "custom", path: ["icmpTypes", i], message: `unknown ${rule.protocol} type ${JSON.stringify(t)}` });
        }
      });
    }
    if (rule.rateLimit && rule.action !== "Allow") {
      ctx.addIssue({ code: "custom", path: ["rateLimit"], message: "rateLimit applies to Allow rules only" });
    }
    if (ruleFamilies(rule).length === 0) {
      ctx.addIssue({ code: "custom", path: [rule.destinations ? "destinations" : "sources"], message: "sources, destinations and protocol leave no address family (IPv4 and IPv6 mixed up)" });
    }
    const only = rule.protocol === "icmp" ? "ip" : rule.protocol === "icmpv6" ? "ip6" : undefined;
    for (const field of ["sources", "destinations"] as const) {
      const list = rule[field];
      if (!only || !list) continue;
      list.forEach((c, i) => {
        let fam: string | undefined;
        try {
          fam = parseCidr(c).family;
        } catch {
          return; // already reported by CidrString
        }
        if (fam !== only) {
          ctx.addIssue({ code: "custom", path: [field, i], message: `${c} is not an ${only === "ip" ? "IPv4" : "IPv6"} address but protocol is ${rule.protocol}` });
        }
      });
    }
  });
export type Rule = z.infer<typeof Rule>;

// What the API server can check itself (CEL); the controller checks everything again, for old servers.
z.globalRegistry.add(Rule, {
  "x-kubernetes-validations": [
    { rule: "!has(self.ports) || size(self.ports) == 0 || !has(self.protocol) || self.protocol in ['tcp', 'udp']", message: "ports need protocol tcp or udp" },
    { rule: "!has(self.icmpTypes) || (has(self.protocol) && self.protocol in ['icmp', 'icmpv6'])", message: "icmpTypes need protocol icmp or icmpv6" },
    { rule: "!has(self.rateLimit) || self.action == 'Allow'", message: "rateLimit applies to Allow rules only" },
  ],
});

/** Address families a rule can match, from its protocol and its address lists. */
export function ruleFamilies(rule: Pick<Rule, "protocol" | "sources" | "destinations">): Family[] {
  let families: Family[] = rule.protocol === "icmp" ? ["ip"] : rule.protocol === "icmpv6" ? ["ip6"] : ["ip", "ip6"];
  for (const list of [rule.sources, rule.destinations]) {
    if (!list) continue;
    const present = new Set<Family>();
    for (const c of list) {
      try {
        present.add(parseCidr(c).family);
      } catch {
        // reported by CidrString
      }
    }
    families = families.filter((f) => present.has(f));
  }
  return families;
}
export type RuleInput = z.input<typeof Rule>;

export const Verdict = z.enum(["Drop", "Reject", "Accept"]);
export type Verdict = z.infer<typeof Verdict>;

export const Baseline = strictObject({
  loopback: z.boolean().default(true).describe("Accept loopback traffic; drop 127.0.0.0/8 and ::1 arriving on any other interface."),
  established: z.boolean().default(true).describe("Accept packets of established and related connections."),
  dropInvalid: z.boolean().default(true).describe("Drop packets conntrack marks invalid."),
  badTcpFlags: z.boolean().default(true).describe("Drop new TCP that is not a SYN, XMAS (all flags) and NULL (no flags) packets."),
})
  .describe("Standard hardening rules rendered before any policy rule; every item defaults to true.");
export type Baseline = z.infer<typeof Baseline>;

/** Every baseline hardening rule on: a policy's default, and what an agent falls back to. */
export const FULL_BASELINE: Readonly<Baseline> = Object.freeze({ loopback: true, established: true, dropInvalid: true, badTcpFlags: true });

export const IcmpPreset = z.enum(["Essential", "Ping", "All", "None"]);
export const IcmpSpec = z
  .union([
    IcmpPreset,
    strictObject({
      preset: IcmpPreset.optional().describe("Preset to start from."),
      types: z
        .array(z.string().refine((t) => icmpTypeNumber("ip", t) !== undefined || icmpTypeNumber("ip6", t) !== undefined, { message: "unknown ICMP/ICMPv6 type name" }))
        .optional()
        .describe("Extra ICMP/ICMPv6 type names (echo-request, ...), accepted in each family that has the name."),
      rate: z.string().regex(rateText("second|minute|hour"), "must look like 10/second: 1 to 999999 per second, minute or hour").optional().describe("Rate limit on accepted ICMP, e.g. 10/second."),
    }),
  ])
  .describe("Inbound ICMP to accept: Essential (errors, PMTU, IPv6 neighbour discovery), Ping (adds echo), All, None.");
export type IcmpSpec = z.infer<typeof IcmpSpec>;

export const LogDropped = strictObject({
  prefix: z.string().max(64).regex(QUOTABLE, QUOTABLE_MESSAGE).default("fleetwall drop: ").describe("Prefix of each kernel log line."),
  rate: z.string().regex(rateText("second|minute|hour|day"), "must look like 5/minute: 1 to 999999 per second, minute, hour or day").default("5/minute").describe("Most log lines per period."),
})
  .describe("Log dropped packets, rate-limited.");
export type LogDropped = z.infer<typeof LogDropped>;

export const FirewallPolicySpec = strictObject({
  hostSelector: LabelSelector.describe("Which hosts the policy applies to; {} selects every host."),
  order: z.number().int().min(0).max(1000000).default(1000).describe("Evaluation order across policies on one host; lower first, then by name."),
  mode: z.enum(["Enforce", "Audit"]).default("Enforce").describe("Audit counts and logs what the policy would drop and drops nothing."),
  defaultInput: Verdict.default("Drop").describe("What happens to inbound packets no rule matched."),
  defaultOutput: Verdict.default("Accept").describe("What happens to outbound packets no rule matched."),
  baseline: Baseline.default({ ...FULL_BASELINE }),
  icmp: IcmpSpec.default("Essential"),
  logDropped: LogDropped.optional(),
  managementPorts: z.array(PortSpec).max(16).default([22]).describe("TCP ports operators manage hosts through; a Drop policy that opens none of them is flagged (lockout lint)."),
  ingress: z.array(Rule).max(1000).default([]).describe("Inbound rules, first match wins."),
  egress: z.array(Rule).max(1000).default([]).describe("Outbound rules, first match wins."),
  jails: z.array(Jail).max(50).default([]).describe("Log-driven ban detectors run by the agents of the selected hosts."),
})
  .superRefine((spec, ctx) => {
    for (const dir of ["ingress", "egress"] as const) {
      const seen = new Map<string, number>();
      spec[dir].forEach((rule, i) => {
        const prev = seen.get(rule.name);
        if (prev !== undefined) {
          ctx.addIssue({ code: "custom", path: [dir, i, "name"], message: `duplicate rule name "${rule.name}" (also ${dir}[${prev}])` });
        }
        seen.set(rule.name, i);
      });
    }
    const jailNames = new Map<string, number>();
    spec.jails.forEach((jail, i) => {
      const prev = jailNames.get(jail.name);
      if (prev !== undefined) ctx.addIssue({ code: "custom", path: ["jails", i, "name"], message: `duplicate jail name "${jail.name}" (also jails[${prev}])` });
      jailNames.set(jail.name, i);
    });
  })
  // unique rule names are the controller's to check: over 1,000 rules a CEL rule costs more than a 1.24 server allows
  .meta({ "x-kubernetes-validations": [{ rule: "!has(self.jails) || self.jails.all(j, self.jails.exists_one(k, k.name == j.name))", message: "jails: names must be unique" }] });
export type FirewallPolicySpec = z.infer<typeof FirewallPolicySpec>;

export const FirewallPolicyStatus = z.object({
  observedGeneration: z.number().int().optional(),
  selectedHosts: z.number().int().optional(),
  appliedHosts: z.number().int().optional(),
  failedHosts: z.number().int().optional(),
  conditions: z.array(Condition).optional(),
});

export const FirewallPolicy = strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal("FirewallPolicy"),
  metadata: ObjectMeta,
  spec: FirewallPolicySpec,
  status: FirewallPolicyStatus.optional(),
});
export type FirewallPolicy = z.infer<typeof FirewallPolicy>;
export type FirewallPolicyInput = z.input<typeof FirewallPolicy>;
