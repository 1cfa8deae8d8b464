/**
 * Well-known service names accepted in `ports`, with the port each stands for (IANA assignments,
 * as in /etc/services). One table, documented in docs/policy-language.md.
 */
export const SERVICES: Readonly<Record<string, number>> = Object.freeze({
  ftp: 21,
  ssh: 22,
  telnet: 23,
  smtp: 25,
  dns: 53,
  domain: 53,
  bootps: 67,
  bootpc: 68,
  tftp: 69,
  http: 80,
  kerberos: 88,
  pop3: 110,
  ntp: 123,
  imap: 143,
  snmp: 161,
  ldap: 389,
  https: 443,
  smtps: 465,
  syslog: 514,
  submission: 587,
  ldaps: 636,
  imaps: 993,
  pop3s: 995,
  mysql: 3306,
  rdp: 3389,
  postgresql: 5432,
  redis: 6379,
  "http-alt": 8080,
  nats: 4222,
  "node-exporter": 9100,
  "kube-apiserver": 6443,
  kubelet: 10250,
});

export function servicePort(name: string): number | undefined {
  return Object.hasOwn(SERVICES, name) ? SERVICES[name] : undefined;
}
