import { isCidr, parseCidr } from "@fleetwall/api";
import type { Failsafe } from "@fleetwall/agent";

/** The failsafe entries for the agent's own NATS servers: address when the URL has one, and port. */
export function natsFailsafe(servers: readonly string[]): Failsafe["nats"] {
  return servers.map((s) => {
    const url = new URL(s.includes("://") ? s : `nats://${s}`);
    const host = url.hostname.replace(/^\[|\]$/g, "");
    const port = Number(url.port || 4222);
    if (isCidr(host)) {
      const c = parseCidr(host);
      return { address: c.text, family: c.family, port };
    }
    return { port };
  });
}
