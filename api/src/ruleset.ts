import { z } from "zod";

/**
 * The rule IR: what the controller compiles a host's policies into and the agent renders to
 * nftables. Names are resolved, CIDRs canonical and split by family, ports numeric ranges.
 */
const Family = z.enum(["ip", "ip6"]);
const VerdictIR = z.enum(["accept", "drop", "reject"]);
export type VerdictIR = z.infer<typeof VerdictIR>;

export const LogIR = z.object({ prefix: z.string(), rate: z.string() });
export type LogIR = z.infer<typeof LogIR>;

export const MatchIR = z.object({
  /** Address families the rule applies to; both when the rule names no address of either. */
  families: z.array(Family).min(1),
  protocols: z.array(z.enum(["tcp", "udp", "icmp", "icmpv6"])).optional(),
  dports: z.array(z.tuple([z.number().int(), z.number().int()])).optional(),
  saddr: z.object({ ip: z.array(z.string()), ip6: z.array(z.string()) }).optional(),
  daddr: z.object({ ip: z.array(z.string()), ip6: z.array(z.string()) }).optional(),
  iifname: z.string().optional(),
  oifname: z.string().optional(),
  icmpTypes: z.array(z.number().int()).optional(),
  ctState: z.array(z.string()).optional(),
});
export type MatchIR = z.infer<typeof MatchIR>;

export const RuleIR = z.object({
  name: z.string(),
  action: z.enum(["accept", "drop", "reject", "log"]),
  match: MatchIR,
  /** Per-source limit on new connections; above it, new connections are dropped. */
  rateLimit: z.object({ newConnections: z.number().int(), perSeconds: z.number().int() }).optional(),
  /** Plain rate limit on the rule (`10/second`); above it the rule does not match. */
  limit: z.string().optional(),
  log: LogIR.optional(),
  counter: z.boolean(),
  comment: z.string().optional(),
});
export type RuleIR = z.infer<typeof RuleIR>;

export const PolicyIR = z.object({
  name: z.string(),
  mode: z.enum(["enforce", "audit"]),
  input: z.array(RuleIR),
  output: z.array(RuleIR),
  /** The policy's own defaults; audit policies count what their defaults would drop. */
  defaultInput: VerdictIR,
  defaultOutput: VerdictIR,
  log: LogIR.optional(),
});
export type PolicyIR = z.infer<typeof PolicyIR>;

export const DefaultIR = z.object({ verdict: VerdictIR, log: LogIR.optional() });

export const RulesetIR = z.object({
  baseline: z.object({
    loopback: z.boolean(),
    established: z.boolean(),
    dropInvalid: z.boolean(),
    badTcpFlags: z.boolean(),
  }),
  policies: z.array(PolicyIR),
  defaultInput: DefaultIR,
  defaultOutput: DefaultIR,
});
export type RulesetIR = z.infer<typeof RulesetIR>;
