// The fleet the controller benchmarks compile for: 200 policies, each 10th selecting every host, the
// others one of 20 teams; hosts labelled by team and zone.

/** Policy `i` as written (YAML or kubectl would hold this); `port` moves its port range (a change). */
export function fleetPolicy(i: number, port = 8000 + i) {
  return {
    apiVersion: "fleetwall.io/v1alpha1",
    kind: "FirewallPolicy",
    metadata: { name: `p${i}` },
    spec: {
      hostSelector: i % 10 === 0 ? {} : { matchLabels: { team: `t${i % 20}` } },
      order: i,
      ingress: [
        { name: "ssh", action: "Allow", protocol: "tcp", ports: ["ssh"], rateLimit: { newConnections: 3, perSeconds: 60 } },
        { name: "web", action: "Allow", protocol: "tcp", ports: [80, 443, `${port}-${port + 10}`] },
        { name: "internal", action: "Allow", sources: ["198.18.0.0/16", `2001:db8:${i.toString(16)}::/48`] },
      ],
    },
  };
}

/** Host `i`'s labels. */
export const fleetLabels = (i: number): Record<string, string> => ({ team: `t${i % 20}`, zone: `z${i % 3}` });
