import { canonicalJson, type JailIR } from "@fleetwall/api";
import type { Logger } from "pino";
import type { FollowPosition } from "./file-follower.js";
import { compileFilter } from "./filters.js";
import { followSource, readsSshd } from "./jail-source.js";
import { sshdEntry } from "./journal-follower.js";
import { JailCounter, type JailBan } from "./jail-counter.js";
import { JAIL_POSITIONS as POSITIONS, type StateStore } from "./state-store.js";

interface Running {
  key: string;
  stop: () => Promise<void>;
  counter: JailCounter;
}

/**
 * Runs the jails of the applied desired state: follows each jail's log, matches lines, counts
 * failures and calls `onBan` when an address crosses maxRetry. Reconfigured on every desired state;
 * log positions are saved so a restarted agent resumes where it stopped.
 */
export class JailRunner {
  #running = new Map<string, Running>();
  #positions: Record<string, FollowPosition | string> = {};
  #saveTimer: NodeJS.Timeout | undefined;
  #pruneTimer: NodeJS.Timeout | undefined;
  linesRead = 0;
  linesMatched = 0;
  /** sshd lines naming two candidate sources (a crafted user name): counted, no one's failure. */
  linesAmbiguous = 0;
  /** Journal entries claiming to be sshd's that the journal's trusted fields say are not: ignored. */
  linesUntrusted = 0;

  constructor(
    private readonly store: StateStore,
    private readonly log: Logger,
    private readonly onBan: (ban: JailBan, jail: JailIR) => void,
    private readonly now: () => number = Date.now,
  ) {}

  async init(): Promise<void> {
    const saved = await this.store.read(POSITIONS);
    if (saved) this.#positions = JSON.parse(saved) as Record<string, FollowPosition | string>;
    this.#pruneTimer = setInterval(() => {
      for (const r of this.#running.values()) r.counter.prune(this.now());
    }, 60_000);
    this.#pruneTimer.unref();
  }

  /** Starts, restarts or stops jails so that exactly `jails` run. */
  async configure(jails: readonly JailIR[]): Promise<void> {
    const wanted = new Map(jails.map((j) => [j.name, j]));
    for (const [name, r] of this.#running) {
      const j = wanted.get(name);
      if (!j || canonicalJson(j) !== r.key) {
        await r.stop();
        this.#running.delete(name);
      }
    }
    for (const jail of jails) {
      if (this.#running.has(jail.name)) continue;
      let match: ReturnType<typeof compileFilter>;
      try {
        match = compileFilter(jail, [], { journal: "journal" in jail.source, onAmbiguous: () => (this.linesAmbiguous += 1) });
      } catch (error) {
        this.log.error({ jail: jail.name, err: error }, "jail filter refused; jail not started");
        continue;
      }
      const counter = new JailCounter(jail);
      const onLines = (lines: string[]) => {
        const now = this.now();
        for (const line of lines) {
          this.linesRead += 1;
          const host = match(line);
          if (!host) continue;
          this.linesMatched += 1;
          const ban = counter.fail(host, now);
          if (ban) this.onBan(ban, jail);
        }
      };
      const stop = await followSource(jail.source, {
        positions: this.#positions,
        onLines,
        onPosition: (key, pos) => this.#savePosition(key, pos),
        onJournalError: (error) => this.log.error({ jail: jail.name, err: error }, "journalctl failed"),
        ...(readsSshd(jail) ? { accept: sshdEntry, onRejected: () => (this.linesUntrusted += 1) } : {}),
      });
      this.#running.set(jail.name, { key: canonicalJson(jail), stop, counter });
      this.log.info({ jail: jail.name, source: jail.source }, "jail started");
    }
  }

  #savePosition(path: string, pos: FollowPosition | string): void {
    this.#positions[path] = pos;
    if (this.#saveTimer) return;
    this.#saveTimer = setTimeout(() => {
      this.#saveTimer = undefined;
      this.store.write(POSITIONS, JSON.stringify(this.#positions)).catch((e: unknown) => this.log.warn({ err: e }, "jail positions not saved"));
    }, 1000);
  }

  async stop(): Promise<void> {
    clearInterval(this.#pruneTimer);
    clearTimeout(this.#saveTimer);
    for (const r of this.#running.values()) await r.stop();
    this.#running.clear();
    await this.store.write(POSITIONS, JSON.stringify(this.#positions)).catch(() => undefined);
  }
}
