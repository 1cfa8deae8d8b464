import { API_VERSION, BanList, FirewallPolicy } from "@fleetwall/api";
import type { Fail2banImport } from "./jail-reader.js";

export interface ManifestOptions {
  /** Name of the FirewallPolicy (and prefix of the BanList). */
  name: string;
  /** matchLabels of the hosts the jails run on; {} selects every host. */
  matchLabels: Record<string, string>;
}

/** A policy that filters nothing: default Accept both ways, no rules, every baseline item off, no ICMP accept of its own. */
const NEUTRAL = { defaultInput: "Accept", defaultOutput: "Accept", baseline: { loopback: false, established: false, dropInvalid: false, badTcpFlags: false }, icmp: "None", managementPorts: [] };

/**
 * The imported jails as a FirewallPolicy that changes no filtering (NEUTRAL: only its jails, and
 * the bans they make), and the ignoreip addresses every jail shares as a BanList of type Allow. Both are parsed with the API's own
 * schemas, so what is written is what the controller accepts.
 */
export function fail2banManifests(imp: Fail2banImport, o: ManifestOptions): (FirewallPolicy | BanList)[] {
  const policy = FirewallPolicy.parse({
    apiVersion: API_VERSION,
    kind: "FirewallPolicy",
    metadata: { name: o.name },
    spec: { hostSelector: { matchLabels: o.matchLabels }, ...NEUTRAL, jails: imp.jails },
  });
  if (!imp.allow.length) return [policy];
  const allow = BanList.parse({
    apiVersion: API_VERSION,
    kind: "BanList",
    metadata: { name: `${o.name}-ignoreip` },
    spec: { type: "Allow", entries: imp.allow.map((cidr) => ({ cidr, reason: "fail2ban ignoreip" })) },
  });
  return [policy, allow];
}

/** The manifests without the defaults zod filled in, so the YAML says what the import decided. */
export function manifestInputs(imp: Fail2banImport, o: ManifestOptions): object[] {
  fail2banManifests(imp, o); // throws when the controller would refuse them
  const docs: object[] = [
    {
      apiVersion: API_VERSION,
      kind: "FirewallPolicy",
      metadata: { name: o.name },
      spec: { hostSelector: { matchLabels: o.matchLabels }, ...NEUTRAL, jails: imp.jails.map((j) => ({ ...j, ...(j.ignore.length ? {} : { ignore: undefined }) })) },
    },
  ];
  if (imp.allow.length) docs.push({ apiVersion: API_VERSION, kind: "BanList", metadata: { name: `${o.name}-ignoreip` }, spec: { type: "Allow", entries: imp.allow.map((cidr) => ({ cidr, reason: "fail2ban ignoreip" })) } });
  return JSON.parse(JSON.stringify(docs)) as object[];
}
