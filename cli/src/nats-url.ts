import { natsEndpoints } from "@fleetwall/runtime";
import type { Failsafe } from "@fleetwall/agent";

/** The failsafe entries for the agent's own NATS servers: address when the URL has one, and port. */
export function natsFailsafe(servers: readonly string[]): Failsafe["nats"] {
  return natsEndpoints(servers);
}
