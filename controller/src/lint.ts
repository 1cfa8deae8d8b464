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
  const mgmt = spec.managementPorts.map(portRange);
  const opens = spec.ingress.some((rule) => {
    if (rule.action !== "Allow" || (rule.protocol !== undefined && rule.protocol !== "tcp")) return false;
    if (ruleFamilies(rule).length === 0) return false;
    if (!rule.ports || rule.ports.length === 0) return true;
    return rule.ports.map(portRange).some(([lo, hi]) => mgmt.some(([mlo, mhi]) => lo <= mhi && mlo <= hi));
  });
  if (opens) return [];
  const ports = spec.managementPorts.join(", ");
  return [
    `spec.ingress: defaultInput is ${spec.defaultInput} and no Allow rule opens a management port (${ports}/tcp); hosts stay reachable only through the agent's failsafe: SSH from its --ssh-source networks before every rule, or, without them, SSH from anywhere that this policy's rules did not drop`,
  ];
}
