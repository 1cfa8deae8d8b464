/** One line of a fleetwall process's log (pino JSON): its time (ms since the epoch), message and fields. */
export type LogEntry = { time: number; msg: string } & Record<string, unknown>;

/** The JSON lines of a process's log, in order; other lines (a crash's stack) are left out. */
export function logEntries(log: string): LogEntry[] {
  const out: LogEntry[] = [];
  for (const line of log.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const e = JSON.parse(line) as Partial<LogEntry>;
      if (typeof e.time === "number" && typeof e.msg === "string") out.push(e as LogEntry);
    } catch {
      // a line cut short while being written
    }
  }
  return out;
}

/** The time a process logged the first entry at or after `since` that `match` accepts; undefined before it does. */
export function loggedAt(log: string, match: (e: LogEntry) => boolean, since = 0): number | undefined {
  return logEntries(log).find((e) => e.time >= since && match(e))?.time;
}

/**
 * When an agent detected `addr` (its jail's "banned locally") and when another enforced the fleet ban
 * (its kernel took the element: "ban elements applied", which lists single bans' elements).
 */
export const detectedBy = (addr: string) => (e: LogEntry) => e.msg === "banned locally" && e.address === addr;
export const enforcedOn = (addr: string) => (e: LogEntry) => e.msg === "ban elements applied" && Array.isArray(e.elements) && e.elements.includes(`upsert ${addr}`);
