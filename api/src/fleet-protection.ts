import { z } from "zod";
import { SCHEMA_VERSION } from "./messages.js";

/**
 * The fleet's protection list: addresses no agent bans, locally or by a decision (every registered
 * host's addresses, their management networks that protect fleet-wide, the control plane). One
 * key in a bucket of its own, written only by the controller, signed like a desired state, with a
 * revision that only grows (an older list put back is refused). Agents may read exactly this key.
 */
export const PROTECTION_BUCKET = "fleetwall-protection";
export const PROTECTION_KEY = "fleet";
/** The key's subject: a put is a publish here, which agents follow by subscription. */
export const PROTECTION_SUBJECT = `$KV.${PROTECTION_BUCKET}.${PROTECTION_KEY}`;

/**
 * Most entries in the list: at about 40 bytes each (an IPv6 address), 20,000 stay below nats-server's
 * default max_payload of 1 MiB. A fleet of 3,000 hosts with four addresses each is 12,000.
 */
export const MAX_FLEET_PROTECTED = 20_000;

export const FleetProtection = z.strictObject({
  schemaVersion: z.literal(SCHEMA_VERSION),
  /** Grows with every list the controller publishes; an agent refuses one below what it holds. */
  revision: z.number().int().min(1),
  issuedAt: z.string().max(40),
  /** Canonical addresses and CIDRs (`parseCidr(…).text`), sorted, without duplicates. */
  entries: z.array(z.string().min(1).max(64)).max(MAX_FLEET_PROTECTED),
});
export type FleetProtection = z.infer<typeof FleetProtection>;
