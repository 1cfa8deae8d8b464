import type { Logger } from "pino";
import type { Controller } from "./controller.js";
import { canonicalJson } from "@fleetwall/api";
import { kubeLogFields } from "./kube-errors.js";
import { kubeStatuses, planStatusWrites, type ObjectStatus } from "./kube-status.js";

/** A status write the server keeps refusing is retried at most this often. */
const MAX_RETRY_MS = 30_000;

/** How long a new leader waits to hear from every host before it writes statuses (three default heartbeats). */
export const STATUS_STARTUP_GRACE_MS = 30_000;

/** What the writer needs of the Kubernetes adapter. */
export interface StatusTarget {
  readonly generations: ReadonlyMap<string, number>;
  /** The status an object has in the informer cache, or undefined when the object does not exist. */
  currentStatus(key: string): ObjectStatus | null | undefined;
  /** Resolves to the status the server stored (it prunes fields its schema lacks), when it says. */
  writeStatus(key: string, status: ObjectStatus): Promise<ObjectStatus | undefined>;
  /** The hosts that have a FirewallHost: the agents the fleet had before this process started. */
  hostNames(): readonly string[];
}

export interface StatusWriterOptions {
  /** An object is written at most this often; changes in between are coalesced. */
  minIntervalMs: number;
  /** At most this many writes per tick (the API server's budget). */
  budget: number;
  log: Logger;
  /** After start, no status is written until every FirewallHost's agent has reported, or this long. */
  startupGraceMs?: number;
}

/**
 * Writes the status of every FirewallPolicy, BanList and FirewallHost: computed from the fleet
 * (kubeStatuses), compared with what the object already says, written only on change and
 * rate-limited. Heartbeats alone cause no writes (see LAST_SEEN_REFRESH_MS). A new leader (or a
 * restarted controller) writes nothing until it has heard from every host that has a FirewallHost
 * (or the startup grace has passed): until then it knows less than the statuses already say, and
 * writing would flap every host to "never seen" and every policy to "0 applied" and back.
 */
export class KubeStatusWriter {
  /** Per object: what was sent last, what the server stored of it, and when. */
  #lastWrite = new Map<string, { sent: ObjectStatus; stored: ObjectStatus | undefined; at: number }>();
  #prunedWarned = new Set<string>();
  /** Objects whose last write failed: how often in a row, and not before when again. */
  #failing = new Map<string, { count: number; retryAt: number }>();
  #startedAt: number | undefined;
  #settled = false;
  writes = 0;
  failures = 0;
  /** Objects whose status, after the last pass, still differs from what they say (rate-limited, over budget, refused). */
  pending = 0;

  constructor(
    private readonly target: StatusTarget,
    private readonly controller: Controller,
    private readonly options: StatusWriterOptions,
  ) {}

  /**
   * What an object says now, as the writer compares it: what was last sent, when the object still
   * says what the server stored of that write. So fields the server prunes (a CRD schema without
   * them) cause no write on every tick, and a status someone else changed is written again.
   */
  #said(key: string): ObjectStatus | null | undefined {
    const current = this.target.currentStatus(key);
    const last = this.#lastWrite.get(key);
    if (current !== undefined && last?.stored && canonicalJson(current ?? {}) === canonicalJson(last.stored)) return last.sent;
    return current;
  }

  /** Whether statuses may be written: every known host heard from since start, or the grace over. */
  #ready(heard: readonly { id: string; lastSeen: string | null }[], now: number): boolean {
    if (this.#settled) return true;
    this.#startedAt ??= now;
    const reported = new Set(heard.filter((h) => h.lastSeen).map((h) => h.id));
    const waiting = this.target.hostNames().filter((id) => !reported.has(id));
    const graceOver = now - this.#startedAt >= (this.options.startupGraceMs ?? STATUS_STARTUP_GRACE_MS);
    if (waiting.length > 0 && !graceOver) return false;
    this.#settled = true;
    if (waiting.length > 0) this.options.log.warn({ hosts: waiting }, "hosts not heard from since start; their status says so");
    else this.options.log.info({ hosts: heard.length }, "every host heard from since start; statuses are written from now on");
    return true;
  }

  async tick(now = Date.now()): Promise<number> {
    const fleet = this.controller.status();
    if (!this.#ready(fleet.hosts, now)) return 0;
    const desired = kubeStatuses({
      fleet,
      generations: this.target.generations,
      selection: this.controller.selection,
      registrations: this.controller.registrations,
      previous: { get: (key: string) => this.#said(key) ?? undefined } as ReadonlyMap<string, ObjectStatus>,
      now,
    });
    // only objects that exist; compared with what they say now, not with what was last sent
    const existing = new Map([...desired].filter(([key]) => this.target.currentStatus(key) !== undefined && now >= (this.#failing.get(key)?.retryAt ?? 0)));
    const said = new Map([...existing.keys()].map((key) => [key, { status: this.#said(key) ?? {}, at: this.#lastWrite.get(key)?.at ?? 0 }]));
    const due = planStatusWrites(existing, said, now, this.options.minIntervalMs, this.options.budget);
    for (const key of due) {
      const status = existing.get(key) as ObjectStatus;
      // a merge patch keeps fields it does not name: fields no longer written are removed with null
      const gone = Object.keys(this.target.currentStatus(key) ?? {}).filter((k) => !(k in status));
      try {
        const stored = await this.target.writeStatus(key, { ...status, ...Object.fromEntries(gone.map((k) => [k, null])) });
        this.#lastWrite.set(key, { sent: status, stored, at: now });
        this.#failing.delete(key);
        this.writes += 1;
        if (stored && canonicalJson(stored) !== canonicalJson(status) && !this.#prunedWarned.has(key)) {
          this.#prunedWarned.add(key);
          this.options.log.warn({ key, sent: status, stored }, "the API server stored another status than was written (fields its CRD schema lacks are pruned); apply the current CRDs (kubectl apply -f crds/)");
        }
      } catch (error) {
        this.failures += 1;
        // a write the server refuses is tried again later, backing off, not on every tick
        const count = (this.#failing.get(key)?.count ?? 0) + 1;
        const retryInMs = Math.min(Math.max(this.options.minIntervalMs, 1000) * 2 ** (count - 1), MAX_RETRY_MS);
        this.#failing.set(key, { count, retryAt: now + retryInMs });
        this.options.log.warn({ key, ...kubeLogFields(error), retryInMs }, "status not written");
      }
    }
    this.pending = [...existing].filter(([key, status]) => canonicalJson(this.#said(key) ?? {}) !== canonicalJson(status)).length;
    for (const key of [...this.#lastWrite.keys()]) if (!desired.has(key)) this.#lastWrite.delete(key);
    for (const key of [...this.#failing.keys()]) if (!desired.has(key)) this.#failing.delete(key);
    return due.length;
  }
}
