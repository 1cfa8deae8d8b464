/** NATS subjects and JetStream names; the one place they are spelled. */
export const DESIRED_BUCKET = "fleetwall-desired";
export const HOSTS_BUCKET = "fleetwall-hosts";
export const BANS_BUCKET = "fleetwall-bans";
export const SIGNALS_STREAM = "fleetwall-signals";
/**
 * The bans bucket's stream republishes every entry it stores under this prefix (the key follows),
 * with its revision in `Nats-Sequence`: agents follow bans by subscription, not by a consumer each.
 */
export const BANS_LIVE_PREFIX = "fleetwall.live.bans.";
/** The bans bucket's republish configuration (set by the controller). */
export const BANS_REPUBLISH = { src: `$KV.${BANS_BUCKET}.>`, dest: `${BANS_LIVE_PREFIX}>` };

export const reportSubject = (hostId: string): string => `fleetwall.report.${hostId}`;
export const REPORT_WILDCARD = "fleetwall.report.*";
export const signalSubject = (hostId: string): string => `fleetwall.signal.${hostId}`;
export const SIGNAL_WILDCARD = "fleetwall.signal.*";
export const STATUS_REQUEST = "fleetwall.ctl.status";
export const BAN_ADD_REQUEST = "fleetwall.ctl.bans.add";
export const BAN_DELETE_REQUEST = "fleetwall.ctl.bans.delete";
export const BAN_IMPORT_REQUEST = "fleetwall.ctl.bans.import";
/** What each host reports of its bans (digest, refusals, local bans), with what it should hold. */
export const BANS_HOSTS_REQUEST = "fleetwall.ctl.bans.hosts";
/** `fleetwall hosts delete`: forget a decommissioned host. */
export const HOSTS_DELETE_REQUEST = "fleetwall.ctl.hosts.delete";
/** Signed orders to an agent to lift one of its own local bans. */
export const liftSubject = (hostId: string): string => `fleetwall.lift.${hostId}`;
/** An operator's request to one agent for the elements its kernel's ban sets hold (`bans list --elements`). */
export const elementsSubject = (hostId: string): string => `fleetwall.elements.${hostId}`;
export const ELEMENTS_WILDCARD = "fleetwall.elements.*";

/** An agent's reply subjects start with this prefix, so the server can confine it to its own. */
export const agentInboxPrefix = (hostId: string): string => `_INBOX_${hostId}`;

/**
 * Host ids name FirewallHost objects and are NATS subject tokens and KV keys: a DNS label (RFC 1123),
 * lowercase letters, digits and '-', at most 63. A dot would split a subject token and '_' is no
 * Kubernetes name: both are refused. A Kubernetes node name with dots (`ip-10-0-0-1.ec2.internal`)
 * becomes an id by `hostIdFromNodeName` (the chart's agents do this; docs/architecture.md).
 */
export const HOST_ID_PATTERN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const HOST_ID_RULE = "lowercase letters, digits and '-', at most 63, a letter or digit at both ends (a DNS label: no dots, no '_')";

/** The host id for a Kubernetes node name: lowercased, dots and '_' become '-', cut to 63. Undefined when no id is left. */
export function hostIdFromNodeName(node: string): string | undefined {
  const id = node.toLowerCase().replace(/[._]/g, "-").slice(0, 63).replace(/^-+|-+$/g, "");
  return HOST_ID_PATTERN.test(id) ? id : undefined;
}
/**
 * The last valid version of each policy and ban list (key `<Kind>.<name>`), written only by the
 * controller and signed by it: an invalid edit keeps enforcement as it was across controller restarts.
 */
export const LAST_GOOD_BUCKET = "fleetwall-last-good";
