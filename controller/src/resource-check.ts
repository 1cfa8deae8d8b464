/**
 * A manifest validated as the controller takes it: the API's schema, then every jail's regexes
 * compiled by the agent's own engine (`jailRegexIssues`), so a regex an agent would refuse (it does
 * not parse, or it cannot run in linear time) makes the policy Invalid here, with its field named,
 * instead of a jail that never starts on any host.
 */

import { parseResource, type ResourceResult } from "@fleetwall/api";
import { jailRegexIssues } from "@fleetwall/agent/jail-check";

export function validateResource(doc: unknown): ResourceResult {
  return parseResource(doc, { checkJail: jailRegexIssues });
}
