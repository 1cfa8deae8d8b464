import { PROTECTION_BUCKET, PROTECTION_SUBJECT } from "./fleet-protection.js";
import { BANS_BUCKET, BANS_LIVE_PREFIX, DESIRED_BUCKET, ELEMENTS_WILDCARD, HOSTS_BUCKET, REPORT_WILDCARD, SIGNALS_STREAM, agentInboxPrefix, elementsSubject, liftSubject, reportSubject, signalSubject } from "./subjects.js";

/** What a NATS user may publish and subscribe to. */
export interface NatsPermissions {
  publish: string[];
  subscribe: string[];
  /**
   * Replies to requests this user received, whatever their reply subject: at most `max` per request,
   * within `expires` (nats-server's `allow_responses`).
   */
  allowResponses?: { max: number; expires: string };
}

/**
 * An agent answers an operator's element listing once, through the request's reply subject, and
 * within a minute (listing a large set takes seconds).
 */
export const AGENT_RESPONSES = { max: 1, expires: "1m" };

const kvStream = (bucket: string) => `KV_${bucket}`;

/**
 * An agent's rights: its own report and signal subjects and registration key; its own desired-state
 * key, read directly and followed by subscription; the ban decisions, followed by subscription to
 * their republished subjects and read by direct gets when it catches up (it creates no JetStream
 * consumer); replies only
 * under its own inbox prefix; the fleet's protection list (one key), read directly and followed by
 * subscription, nothing else of its bucket. It hears operators' requests for its ban elements on its
 * own subject and answers each once through its reply subject. It cannot publish another host's
 * report, write desired state, decisions or protections, read another host's desired state or
 * registration, or ask or answer for another host.
 */
export function agentPermissions(hostId: string): NatsPermissions {
  const desired = kvStream(DESIRED_BUCKET);
  const bans = kvStream(BANS_BUCKET);
  return {
    publish: [
      reportSubject(hostId),
      signalSubject(hostId),
      `$KV.${HOSTS_BUCKET}.${hostId}`,
      "$JS.API.INFO",
      `$JS.API.STREAM.INFO.${desired}`,
      `$JS.API.STREAM.INFO.${bans}`,
      `$JS.API.STREAM.INFO.${kvStream(HOSTS_BUCKET)}`,
      `$JS.API.STREAM.INFO.${SIGNALS_STREAM}`,
      // its own desired state, read directly (updates come by subscription, below)
      `$JS.API.DIRECT.GET.${desired}.$KV.${DESIRED_BUCKET}.${hostId}`,
      // the fleet's protection list, read directly (updates come by subscription, below)
      `$JS.API.STREAM.INFO.${kvStream(PROTECTION_BUCKET)}`,
      `$JS.API.DIRECT.GET.${kvStream(PROTECTION_BUCKET)}.${PROTECTION_SUBJECT}`,
      // the decisions, read one by one when it catches up (a JSON body names the revision); no
      // consumer: nats-server checks only a create request's subject, never the deliver subject in
      // its body, so an agent allowed to create one could have the server publish into any stream
      `$JS.API.DIRECT.GET.${bans}`,
    ],
    subscribe: [`${agentInboxPrefix(hostId)}.>`, `$KV.${DESIRED_BUCKET}.${hostId}`, `${BANS_LIVE_PREFIX}>`, liftSubject(hostId), PROTECTION_SUBJECT, elementsSubject(hostId)],
    allowResponses: AGENT_RESPONSES,
  };
}

/**
 * The controller owns the fleetwall subjects, buckets and stream, and hears JetStream's consumer
 * advisories (its consumer guard deletes consumers that deliver outside an inbox).
 */
export const CONTROLLER_PERMISSIONS: NatsPermissions = {
  publish: ["fleetwall.>", "$JS.API.>", "$KV.>", "$JS.ACK.>", "$JS.FC.>", "_INBOX.>"],
  subscribe: ["fleetwall.>", "$KV.>", "_INBOX.>", "$JS.EVENT.ADVISORY.CONSUMER.>"],
};

/**
 * An operator's `fleetwall` CLI: asks the controller and the agents (their ban elements), reads the
 * buckets by direct get (`bans list` reads the decisions as agents catch up), writes nothing
 * directly, and creates no JetStream consumer.
 */
export const OPERATOR_PERMISSIONS: NatsPermissions = {
  publish: [
    "fleetwall.ctl.>",
    ELEMENTS_WILDCARD,
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.*",
    "$JS.API.STREAM.NAMES",
    `$JS.API.DIRECT.GET.${kvStream(DESIRED_BUCKET)}.>`,
    `$JS.API.DIRECT.GET.${kvStream(HOSTS_BUCKET)}.>`,
    `$JS.API.DIRECT.GET.${kvStream(BANS_BUCKET)}`,
    `$JS.API.DIRECT.GET.${kvStream(BANS_BUCKET)}.>`,
    `$JS.API.DIRECT.GET.${kvStream(PROTECTION_BUCKET)}.>`,
    `$JS.API.STREAM.MSG.GET.*`,
  ],
  subscribe: ["_INBOX.>"],
};

export type NatsRole = { kind: "controller" } | { kind: "operator" } | { kind: "agent"; hostId: string };

export const permissionsOf = (role: NatsRole): NatsPermissions =>
  role.kind === "agent" ? agentPermissions(role.hostId) : role.kind === "controller" ? CONTROLLER_PERMISSIONS : OPERATOR_PERMISSIONS;

const list = (items: readonly string[]) => `[${items.map((s) => JSON.stringify(s)).join(", ")}]`;

/** The account that holds JetStream and every fleetwall stream and bucket: the controller and operators. */
export const FLEET_ACCOUNT = "FLEET";
/** The agents' account: no JetStream; what agents need of FLEET comes only through its imports. */
export const AGENTS_ACCOUNT = "AGENTS";

/**
 * What FLEET offers agents. Services (requests whose answer comes back): the JetStream API requests
 * agents make and the JetStream publishes whose PubAck they wait for. nats-server gives a request
 * through a service import a reply subject of its own (`_R_.…`), so a response can only ever go back
 * to the requester, in AGENTS, and never into a FLEET stream. Streams: what agents follow live.
 * Each user's permissions in AGENTS still confine an agent to its own subjects.
 */
export const FLEET_SERVICES: readonly string[] = [
  "$JS.API.INFO",
  ...[DESIRED_BUCKET, BANS_BUCKET, HOSTS_BUCKET, PROTECTION_BUCKET].map((b) => `$JS.API.STREAM.INFO.${kvStream(b)}`),
  `$JS.API.STREAM.INFO.${SIGNALS_STREAM}`,
  `$JS.API.DIRECT.GET.${kvStream(DESIRED_BUCKET)}.$KV.${DESIRED_BUCKET}.*`,
  `$JS.API.DIRECT.GET.${kvStream(PROTECTION_BUCKET)}.${PROTECTION_SUBJECT}`,
  `$JS.API.DIRECT.GET.${kvStream(BANS_BUCKET)}`,
  signalSubject("*"),
  `$KV.${HOSTS_BUCKET}.*`,
];
export const FLEET_STREAMS: readonly string[] = [`$KV.${DESIRED_BUCKET}.*`, `${BANS_LIVE_PREFIX}>`, liftSubject("*"), PROTECTION_SUBJECT];
/** What AGENTS offers FLEET: agents' reports (a stream) and their answers to element listings (a service). */
export const AGENTS_STREAMS: readonly string[] = [REPORT_WILDCARD];
export const AGENTS_SERVICES: readonly string[] = [ELEMENTS_WILDCARD];

type Users = readonly { nkey: string; role: NatsRole }[];

function userLine({ nkey, role }: Users[number]): string {
  const p = permissionsOf(role);
  const who = role.kind === "agent" ? `agent ${role.hostId}` : role.kind;
  const responses = p.allowResponses ? `, allow_responses: { max: ${p.allowResponses.max}, expires: ${JSON.stringify(p.allowResponses.expires)} }` : "";
  return `      # ${who}\n      { nkey: ${JSON.stringify(nkey)}, permissions: { publish: { allow: ${list(p.publish)} }, subscribe: { allow: ${list(p.subscribe)} }${responses} } }`;
}

/** Exports, private to `to`, and the matching imports from `from`. */
const exportLines = (kind: "service" | "stream", subjects: readonly string[], to: string) => subjects.map((s) => `      { ${kind}: ${JSON.stringify(s)}, accounts: [${to}] }`);
const importLines = (kind: "service" | "stream", subjects: readonly string[], from: string) => subjects.map((s) => `      { ${kind}: { account: ${from}, subject: ${JSON.stringify(s)} } }`);

function account(name: string, extra: string[], users: Users, exports: string[], imports: string[]): string {
  return [`  ${name} {`, ...extra.map((l) => `    ${l}`), "    users = [", users.map(userLine).join(",\n"), "    ]", "    exports = [", exports.join(",\n"), "    ]", "    imports = [", imports.join(",\n"), "    ]", "  }"].join("\n");
}

/**
 * The `accounts` block of a nats-server configuration: one nkey user per role, each with its
 * permissions (everything not allowed is denied). JetStream and the controller and operators live
 * in FLEET, agents in AGENTS, which reach FLEET only through the imports above. Include it from the
 * server's configuration (it replaces an `authorization` block: users live in accounts).
 */
export function natsAuthorization(users: Users): string {
  const fleet = users.filter((u) => u.role.kind !== "agent");
  const agents = users.filter((u) => u.role.kind === "agent");
  const fleetBlock = account(FLEET_ACCOUNT, ["jetstream: enabled"], fleet, [...exportLines("service", FLEET_SERVICES, AGENTS_ACCOUNT), ...exportLines("stream", FLEET_STREAMS, AGENTS_ACCOUNT)], [...importLines("stream", AGENTS_STREAMS, AGENTS_ACCOUNT), ...importLines("service", AGENTS_SERVICES, AGENTS_ACCOUNT)]);
  const agentsBlock = account(AGENTS_ACCOUNT, [], agents, [...exportLines("stream", AGENTS_STREAMS, FLEET_ACCOUNT), ...exportLines("service", AGENTS_SERVICES, FLEET_ACCOUNT)], [...importLines("service", FLEET_SERVICES, FLEET_ACCOUNT), ...importLines("stream", FLEET_STREAMS, FLEET_ACCOUNT)]);
  return `# Generated by \`fleetwall nats-auth\`: one nkey user per fleetwall process, in two accounts.\n# FLEET holds JetStream and every fleetwall stream (controller, operators); AGENTS holds the agents,\n# which reach FLEET only through the imports below. Replaces any \`authorization\` block.\naccounts {\n${fleetBlock}\n${agentsBlock}\n}\n`;
}
