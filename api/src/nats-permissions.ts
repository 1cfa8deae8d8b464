import { PROTECTION_BUCKET, PROTECTION_SUBJECT } from "./fleet-protection.js";
import { BANS_BUCKET, BANS_LIVE_PREFIX, DESIRED_BUCKET, ELEMENTS_WILDCARD, HOSTS_BUCKET, SIGNALS_STREAM, agentInboxPrefix, elementsSubject, liftSubject, reportSubject, signalSubject } from "./subjects.js";

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

/** An operator's `fleetwall` CLI: asks the controller and the agents (their ban elements), reads the buckets, writes nothing directly. */
export const OPERATOR_PERMISSIONS: NatsPermissions = {
  publish: [
    "fleetwall.ctl.>",
    ELEMENTS_WILDCARD,
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.*",
    "$JS.API.STREAM.NAMES",
    `$JS.API.DIRECT.GET.${kvStream(DESIRED_BUCKET)}.>`,
    `$JS.API.DIRECT.GET.${kvStream(HOSTS_BUCKET)}.>`,
    `$JS.API.DIRECT.GET.${kvStream(BANS_BUCKET)}.>`,
    `$JS.API.DIRECT.GET.${kvStream(PROTECTION_BUCKET)}.>`,
    `$JS.API.STREAM.MSG.GET.*`,
    "$JS.API.CONSUMER.CREATE.*.*.>",
    "$JS.API.CONSUMER.CREATE.*",
    "$JS.API.CONSUMER.DELETE.*.*",
    "$JS.FC.>",
  ],
  subscribe: ["_INBOX.>"],
};

export type NatsRole = { kind: "controller" } | { kind: "operator" } | { kind: "agent"; hostId: string };

export const permissionsOf = (role: NatsRole): NatsPermissions =>
  role.kind === "agent" ? agentPermissions(role.hostId) : role.kind === "controller" ? CONTROLLER_PERMISSIONS : OPERATOR_PERMISSIONS;

const list = (items: string[]) => `[${items.map((s) => JSON.stringify(s)).join(", ")}]`;

/**
 * The `authorization` block of a nats-server configuration: one nkey user per role, each with its
 * permissions (everything not allowed is denied). Include it from the server's configuration.
 */
export function natsAuthorization(users: readonly { nkey: string; role: NatsRole }[]): string {
  const lines = users.map(({ nkey, role }) => {
    const p = permissionsOf(role);
    const who = role.kind === "agent" ? `agent ${role.hostId}` : role.kind;
    const responses = p.allowResponses ? `, allow_responses: { max: ${p.allowResponses.max}, expires: ${JSON.stringify(p.allowResponses.expires)} }` : "";
    return `    # ${who}\n    { nkey: ${JSON.stringify(nkey)}, permissions: { publish: { allow: ${list(p.publish)} }, subscribe: { allow: ${list(p.subscribe)} }${responses} } }`;
  });
  return `# Generated by \`fleetwall nats-auth\`: one nkey user per fleetwall process.\nauthorization {\n  users = [\n${lines.join(",\n")}\n  ]\n}\n`;
}
