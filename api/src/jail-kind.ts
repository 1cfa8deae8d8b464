// What kind of filter a jail has, without zod: the agent's filters and `fleetwall jail test` ask it
// for every jail they compile and must not load the API's schemas to do so. jail.ts re-exports these.

/** A tag naming the offender in a fail2ban regex. */
export const HOST_TAG = /<(?:HOST|ADDR|IP4|IP6|SUBNET|DNS|F-ID|F-(?:IP4|IP6|ADDR|SUBNET|DNS|ID)\/)>/;

/** Whether a jail is matched as fail2ban matches (any of its fail2ban-only fields is set). */
export function isFail2banJail(j: { prefRegex?: string | undefined; ignoreRegex?: readonly string[] | undefined; datePattern?: string | undefined; maxLines?: number | undefined }): boolean {
  return j.prefRegex !== undefined || j.ignoreRegex !== undefined || j.datePattern !== undefined || j.maxLines !== undefined;
}
