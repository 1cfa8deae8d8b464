import type { KV } from "@nats-io/kv";
import type { HostRegistration } from "@fleetwall/api";
import { ThrottledLines } from "@fleetwall/runtime";
import type { Logger } from "pino";

/** How often the controller checks that every registration it follows is still in the hosts bucket. */
export const HOST_AUDIT_MS = 60_000;

const enc = new TextEncoder();

/** The hosts the controller follows whose key is no longer in the bucket (`present`: the keys it holds). Pure. */
export function vanishedHosts(known: Iterable<string>, present: ReadonlySet<string>): string[] {
  return [...known].filter((id) => !present.has(id));
}

/**
 * Puts back registrations that left the hosts bucket without a delete marker: a rollup (refused
 * since the bucket forbids them, docs/architecture.md "Trust model"), a purge of the stream, a
 * message removed by hand. An operator's `hosts delete` writes a delete marker, which the watch
 * delivers (the host is then no longer followed); the put back is made only while the key holds
 * no message at all (Nats-Expected-Last-Subject-Sequence: 0), so a delete, or the agent's own put,
 * made meanwhile is never overwritten. Each put back is logged (throttled) and counted.
 */
export class HostAudit {
  /** Registrations found gone from the bucket and put back. */
  restored = 0;
  readonly #log: ThrottledLines;

  constructor(
    private readonly kv: KV,
    private readonly log: Logger,
  ) {
    this.#log = new ThrottledLines(log, "registrations missing from the hosts bucket put back, not logged one by one", 10_000);
  }

  /** One check: resolves with the hosts put back. */
  async pass(known: ReadonlyMap<string, HostRegistration>): Promise<string[]> {
    if (known.size === 0) return [];
    const present = new Set<string>();
    for await (const key of await this.kv.keys()) present.add(key);
    const back: string[] = [];
    for (const id of vanishedHosts(known.keys(), present)) {
      const reg = known.get(id);
      if (!reg) continue;
      try {
        // Nats-Expected-Last-Subject-Sequence: 0, only while the subject holds no message
        await this.kv.put(id, enc.encode(JSON.stringify(reg)), { previousSeq: 0 });
        this.restored += 1;
        back.push(id);
        this.#log.write("warn", "vanished", { host: id }, "host registration gone from the hosts bucket without a delete: put back");
      } catch (error) {
        // a delete marker or a new registration is there now: the watch delivers it
        this.log.debug({ host: id, err: error }, "host registration not put back");
      }
    }
    return back;
  }
}
