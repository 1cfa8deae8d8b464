import { portRange, ruleFamilies, type FirewallPolicy } from "@fleetwall/api";

/**
 * Warnings about a valid policy that would surprise its author. Pure. Today: the lockout lint —
 * an enforcing policy whose default drops or rejects, and that opens none of its management ports
 * to anyone, leaves the hosts reachable only through the agent's failsafe rules.
 */
export function lintPolicy(policy: FirewallPolicy): string[] {
  // kept by spec object, as compile keeps IRs: any change to the directory lints every policy again,
  // and a rule of 10,000 sources is 10,000 addresses to read for its families
  let warnings = linted.get(policy.spec);
  if (!warnings) {
    warnings = lintSpec(policy.spec);
    linted.set(policy.spec, warnings);
  }
  return [...warnings];
}

const linted = new WeakMap<object, readonly string[]>();

function lintSpec(spec: FirewallPolicy["spec"]): string[] {
  if (spec.mode !== "Enforce" || spec.defaultInput === "Accept") return [];
  if (opensAny(spec, spec.managementPorts)) return [];
  const ports = spec.managementPorts.join(", ");
  return [
    `spec.ingress: defaultInput is ${spec.defaultInput} and no Allow rule opens a management port (${ports}/tcp), nor does another Enforce policy that selects at least these hosts; on one host the strictest default wins, so unless a policy on it allows SSH, it stays reachable only through the agent's failsafe: SSH from its --ssh-source networks before every rule, or, without them, SSH from anywhere the policies' rules did not drop (a policy that only adds jails or rules sets defaultInput: Accept)`,
  ];
}

/** Whether an Allow rule of `spec` opens one of `ports` over TCP to some address. */
function opensAny(spec: FirewallPolicy["spec"], ports: FirewallPolicy["spec"]["managementPorts"]): boolean {
  const mgmt = ports.map(portRange);
  return spec.ingress.some((rule) => {
    if (rule.action !== "Allow" || (rule.protocol !== undefined && rule.protocol !== "tcp")) return false;
    if (ruleFamilies(rule).length === 0) return false;
    if (!rule.ports || rule.ports.length === 0) return true;
    return rule.ports.map(portRange).some(([lo, hi]) => mgmt.some(([mlo, mhi]) => lo <= mhi && mlo <= hi));
  });
}

type Selector = FirewallPolicy["spec"]["hostSelector"];

/** True when every host `inner` selects is surely selected by `outer` (labels only: expressions are not compared). */
function covers(outer: Selector, inner: Selector): boolean {
  if ((outer.matchExpressions?.length ?? 0) > 0) return false;
  return Object.entries(outer.matchLabels ?? {}).every(([k, v]) => inner.matchLabels?.[k] === v);
}

/**
 * The warnings of a whole set of policies, by policy name. A policy's lockout warning is dropped when
 * another Enforce policy, selecting at least every host it selects, opens one of its management ports:
 * a jail-only policy beside one that allows SSH on the same hosts locks nobody out. Pure.
 */
export function lintPolicies(policies: readonly FirewallPolicy[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of policies) {
    const warnings = lintPolicy(p);
    if (warnings.length === 0) continue;
    const opened = policies.some((q) => q !== p && q.spec.mode === "Enforce" && covers(q.spec.hostSelector, p.spec.hostSelector) && opensAny(q.spec, p.spec.managementPorts));
    if (!opened) out.set(p.metadata.name, warnings);
  }
  return out;
}
