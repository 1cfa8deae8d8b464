import type { NatsConnection } from "@nats-io/transport-node";
import { BANS_HOSTS_REQUEST, HOSTS_DELETE_REQUEST, HostDeleteRequest, busJsonOrUndefined, liftSubject, type HostBansReply } from "@fleetwall/api";

const enc = new TextEncoder();

export interface HostDeleteReply {
  ok: boolean;
  error?: string;
  removed: string[];
}

/**
 * The controller's requests about hosts: each host's bans as it reports them (`bans list --host`,
 * local bans), and forgetting a decommissioned host. Served in the controllers' queue group.
 */
export function serveHosts(nc: NatsConnection, handlers: { bans: () => HostBansReply; remove: (hostId: string, force: boolean) => Promise<HostDeleteReply> }): void {
  nc.subscribe(BANS_HOSTS_REQUEST, {
    queue: "fleetwall-controller",
    callback: (err, msg) => {
      if (!err) msg.respond(enc.encode(JSON.stringify(handlers.bans())));
    },
  });
  nc.subscribe(HOSTS_DELETE_REQUEST, {
    queue: "fleetwall-controller",
    callback: (err, msg) => {
      if (err) return;
      const parsed = HostDeleteRequest.safeParse(busJsonOrUndefined(msg.data, "request"));
      const reply: Promise<HostDeleteReply> = parsed.success
        ? handlers.remove(parsed.data.hostId, parsed.data.force).catch((e: unknown) => ({ ok: false, error: String(e), removed: [] }))
        : Promise.resolve({ ok: false, error: `malformed request: ${parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ")}`, removed: [] });
      void reply.then((r) => msg.respond(enc.encode(JSON.stringify(r))));
    },
  });
}

/** Sends a signed lift order to one agent (core NATS: the agent's next report confirms it). */
export function sendLift(nc: NatsConnection, hostId: string, text: string): void {
  nc.publish(liftSubject(hostId), enc.encode(text));
}
