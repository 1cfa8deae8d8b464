/** A minimal FirewallPolicy manifest as a file would hold it: every host, one TCP port allowed. */
export const policyYaml = (name: string, port: number | string) => `apiVersion: fleetwall.io/v1alpha1
kind: FirewallPolicy
metadata: {name: ${name}}
spec:
  hostSelector: {}
  ingress:
    - {name: r, action: Allow, protocol: tcp, ports: [${port}]}
`;
