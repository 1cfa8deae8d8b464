import { HOSTS_DELETE_REQUEST, HostDeleteReply } from "@fleetwall/api";
import { BanRefusedError, withNats } from "./bans-command.js";
import type { NatsAccess } from "./nats-access.js";

export class HostRefusedError extends Error {
  override name = "HostRefusedError";
}

/** `fleetwall hosts delete ID`: asks the controller to forget a host; throws with its reason when refused. */
export async function deleteHost(access: NatsAccess, hostId: string, force: boolean): Promise<{ removed: string[] }> {
  return withNats(access, async (nc) => {
    const msg = await nc.request(HOSTS_DELETE_REQUEST, new TextEncoder().encode(JSON.stringify({ hostId, force })), { timeout: 10_000 }).catch((e: unknown) => {
      throw new BanRefusedError("no controller answered", { cause: e });
    });
    const reply = HostDeleteReply.parse(msg.json());
    if (!reply.ok) throw new HostRefusedError(reply.error ?? "refused");
    return reply;
  });
}
