import {
  canonicalJson,
  matchesSelector,
  parseDuration,
  sha256Hex,
  type FirewallPolicy,
  type Jail,
  type JailIR,
  type Labels,
  type LogIR,
  type PolicyIR,
  type RuleIR,
  type RulesetIR,
  type Verdict,
  type VerdictIR,
} from "@fleetwall/api";
import { compileRule, icmpRules, splitCidrs } from "./compile-rule.js";

export { mergeRanges, splitCidrs } from "./compile-rule.js";

export interface HostInfo {
  id: string;
  labels: Labels;
}

export interface CompiledHost {
  hostId: string;
  policies: { name: string; generation: number }[];
  ruleset: RulesetIR;
  jails: JailIR[];
  /** sha256 over the policy names, the ruleset and the jails: what decides whether a host needs a new revision. */
  hash: string;
}

export interface CompileResult {
  hosts: Map<string, CompiledHost>;
  /** Policy name → ids of the hosts it selects, sorted. */
  selection: Map<string, string[]>;
}

/**
 * Compiles validated policies for a set of hosts. Pure and deterministic: the order of `policies`
 * and `hosts` does not change the result.
 */
export function compile(policies: readonly FirewallPolicy[], hosts: readonly HostInfo[]): CompileResult {
  const ordered = [...policies].sort(byEvaluationOrder);
  const compiledPolicies = new Map(ordered.map((p) => [p.metadata.name, compiledPolicy(p)]));
  const selection = new Map<string, string[]>(ordered.map((p) => [p.metadata.name, []]));
  const result = new Map<string, CompiledHost>();
  // Hosts that select the same policies get the same state: compute it once per distinct selection.
  const bySelection = new Map<string, Omit<CompiledHost, "hostId">>();
  // and hosts with the same labels select the same policies: a fleet has far fewer label sets than hosts
  const byLabels = new Map<string, FirewallPolicy[]>();
  for (const host of [...hosts].sort((a, b) => cmp(a.id, b.id))) {
    const labelsKey = labelSetKey(host.labels);
    let selected = byLabels.get(labelsKey);
    if (!selected) {
      selected = ordered.filter((p) => matchesSelector(p.spec.hostSelector, host.labels));
      byLabels.set(labelsKey, selected);
    }
    for (const p of selected) selection.get(p.metadata.name)?.push(host.id);
    const names = selected.map((p) => p.metadata.name);
    const key = names.join("\u0000");
    let state = bySelection.get(key);
    if (!state) {
      const ruleset = hostRuleset(selected, compiledPolicies);
      const jails = hostJails(selected);
      state = {
        policies: selected.map((p) => ({ name: p.metadata.name, generation: p.metadata.generation ?? 1 })),
        ruleset,
        jails,
        hash: sha256Hex(canonicalJson({ policies: names, ruleset, jails })),
      };
      bySelection.set(key, state);
    }
    result.set(host.id, { hostId: host.id, ...state });
  }
  return { hosts: result, selection };
}

/**
 * A policy's IR, kept by its spec object: sources hand over the same (never mutated) spec object
 * while a policy is unchanged, so a change to one policy of 200 compiles one, not 200.
 */
const compiledSpecs = new WeakMap<object, { name: string; ir: PolicyIR }>();

function compiledPolicy(policy: FirewallPolicy): PolicyIR {
  const hit = compiledSpecs.get(policy.spec);
  if (hit && hit.name === policy.metadata.name) return hit.ir;
  const ir = compilePolicy(policy);
  compiledSpecs.set(policy.spec, { name: policy.metadata.name, ir });
  return ir;
}

/** The same text for the same labels, whatever their order. */
function labelSetKey(labels: Labels): string {
  return Object.entries(labels)
    .sort(([a], [b]) => cmp(a, b))
    .map(([k, v]) => `${k}\u0000${v}`)
    .join("\u0001");
}

export function byEvaluationOrder(a: FirewallPolicy, b: FirewallPolicy): number {
  return a.spec.order - b.spec.order || cmp(a.metadata.name, b.metadata.name);
}

/** The jails of the selected policies; a jail name defined by several policies is taken from the first in order. */
function hostJails(selected: FirewallPolicy[]): JailIR[] {
  const out = new Map<string, JailIR>();
  for (const p of selected) {
    for (const j of p.spec.jails) if (!out.has(j.name)) out.set(j.name, compileJail(j));
  }
  return [...out.values()];
}

export function compileJail(j: Jail): JailIR {
  const seconds = (d: string) => parseDuration(d) as number;
  return {
    name: j.name,
    ...(j.filter ? { filter: j.filter } : {}),
    failRegex: j.failRegex ?? [],
    ...(j.prefRegex !== undefined ? { prefRegex: j.prefRegex } : {}),
    ...(j.ignoreRegex !== undefined ? { ignoreRegex: j.ignoreRegex } : {}),
    ...(j.datePattern !== undefined ? { datePattern: j.datePattern } : {}),
    ...(j.maxLines !== undefined ? { maxLines: j.maxLines } : {}),
    source: j.source,
    maxRetry: j.maxRetry,
    findTimeSeconds: seconds(j.findTime),
    banTimeSeconds: seconds(j.banTime),
    ...(j.banTimeIncrement ? { increment: { factor: j.banTimeIncrement.factor, maxSeconds: seconds(j.banTimeIncrement.max) } } : {}),
    ignore: splitCidrs(j.ignore).ip.concat(splitCidrs(j.ignore).ip6),
    share: j.share,
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const STRICTNESS: Record<VerdictIR, number> = { accept: 0, reject: 1, drop: 2 };

function verdict(v: Verdict): VerdictIR {
  return v === "Drop" ? "drop" : v === "Reject" ? "reject" : "accept";
}

function hostRuleset(selected: FirewallPolicy[], compiled: Map<string, PolicyIR>): RulesetIR {
  const enforcing = selected.filter((p) => p.spec.mode === "Enforce");
  const baseline = {
    loopback: true,
    established: true,
    dropInvalid: true,
    badTcpFlags: true,
  };
  if (enforcing.length > 0) {
    for (const key of Object.keys(baseline) as (keyof typeof baseline)[]) {
      baseline[key] = enforcing.some((p) => p.spec.baseline[key]);
    }
  }
  const strictest = (pick: (p: FirewallPolicy) => Verdict): VerdictIR =>
    enforcing.map((p) => verdict(pick(p))).reduce<VerdictIR>((a, b) => (STRICTNESS[b] > STRICTNESS[a] ? b : a), "accept");
  const log = enforcing.find((p) => p.spec.logDropped)?.spec.logDropped;
  const defaultLog = log ? { prefix: log.prefix, rate: log.rate } : undefined;
  const inputVerdict = strictest((p) => p.spec.defaultInput);
  const outputVerdict = strictest((p) => p.spec.defaultOutput);
  return {
    baseline,
    policies: selected.map((p) => compiled.get(p.metadata.name) as PolicyIR),
    defaultInput: withLog(inputVerdict, defaultLog),
    defaultOutput: withLog(outputVerdict, defaultLog),
  };
}

function withLog(v: VerdictIR, log: LogIR | undefined): RulesetIR["defaultInput"] {
  return v !== "accept" && log ? { verdict: v, log } : { verdict: v };
}

export function compilePolicy(policy: FirewallPolicy): PolicyIR {
  const steps = policySteps(policy);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/** Addresses compiled between two turns of the event loop in `precompile` (about 10–20 ms of work). */
const ADDRESSES_PER_TURN = 10_000;

/**
 * Compiles the policies whose IR is not kept yet, handing the event loop back (`pause`) after every
 * ADDRESSES_PER_TURN addresses, so the controller answers `status`, health checks and ban requests
 * while it compiles a policy of 200,000 sources. `compile` then finds every IR ready. An aborted
 * `signal` ends it early (SIGTERM is honoured within one slice).
 */
export async function precompile(policies: readonly FirewallPolicy[], pause: () => Promise<void> = nextTurn, signal?: AbortSignal): Promise<void> {
  let budget = ADDRESSES_PER_TURN;
  for (const policy of policies) {
    const hit = compiledSpecs.get(policy.spec);
    if (hit && hit.name === policy.metadata.name) continue;
    const steps = policySteps(policy);
    for (;;) {
      const step = steps.next();
      if (step.done) {
        compiledSpecs.set(policy.spec, { name: policy.metadata.name, ir: step.value });
        break;
      }
      budget -= step.value;
      if (budget <= 0) {
        await pause();
        // stopping: what is left is compiled by the next process, not this one
        if (signal?.aborted) return;
        budget = ADDRESSES_PER_TURN;
      }
    }
  }
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A policy's IR, a rule at a time: yields the number of addresses each rule had, returns the IR. */
function* policySteps(policy: FirewallPolicy): Generator<number, PolicyIR> {
  const spec = policy.spec;
  const log = spec.logDropped ? { prefix: spec.logDropped.prefix, rate: spec.logDropped.rate } : undefined;
  const input = icmpRules(spec.icmp);
  const output: RuleIR[] = [];
  for (const [rules, out, direction] of [[spec.ingress, input, "in"], [spec.egress, output, "out"]] as const) {
    for (const r of rules) {
      out.push(compileRule(r, direction, log));
      yield 1 + (r.sources?.length ?? 0) + (r.destinations?.length ?? 0);
    }
  }
  return {
    name: policy.metadata.name,
    mode: spec.mode === "Audit" ? "audit" : "enforce",
    input,
    output,
    defaultInput: verdict(spec.defaultInput),
    defaultOutput: verdict(spec.defaultOutput),
    ...(log ? { log } : {}),
  };
}
