import { canonicalJson, type JailIR } from "@fleetwall/api";
import type { Logger } from "pino";
import type { FollowPosition } from "./file-follower.js";
import { followSource, readsSshd } from "./jail-source.js";
import { sshdEntry } from "./journal-follower.js";
import { JailCounter, type JailBan } from "./jail-counter.js";
import { failureTime, lineTimeMs, timedMatcher, type TimedMatch } from "./jail-time.js";
import { JAIL_POSITIONS as POSITIONS, type StateStore } from "./state-store.js";

/** How often a jail says that it skipped failures logged too long ago. */
const TOO_OLD_LOG_MS = 10 * 60_000;

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
  /** Matched lines logged more than findTime before they were read, by jail: not counted (./jail-time.ts). */
  readonly linesTooOld: Record<string, number> = {};
  #tooOldLogged = new Map<string, number>();

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
      let match: (line: string) => TimedMatch | undefined;
      try {
        match = timedMatcher(jail, { journal: "journal" in jail.source, onAmbiguous: () => (this.linesAmbiguous += 1) });
      } catch (error) {
        this.log.error({ jail: jail.name, err: error }, "jail filter refused; jail not started");
        continue;
      }
      const counter = new JailCounter(jail);
      const onLines = (lines: string[]) => {
        const now = this.now();
        for (const line of lines) {
          this.linesRead += 1;
          const m = match(line);
          if (!m) continue;
          this.linesMatched += 1;
          const at = failureTime(m.date && lineTimeMs(m.date, now), now, jail.findTimeSeconds);
          if (at.tooOld) {
            this.#tooOld(jail, at.lineMs, now);
            continue;
          }
          const ban = counter.fail(m.host, at.atMs);
          if (ban) this.onBan(ban, jail);
        }
      };
      const stop = await followSource(jail.source, {
        positions: this.#positions,
        onLines,
        onPosition: (key, pos) => this.#savePosition(key, pos),
        onJournalError: (error) => this.log.error({ jail: jail.name, err: error }, "journalctl failed"),
        onSourceError: (error) => this.log.error({ jail: jail.name, err: error }, "jail log source error"),
        ...(readsSshd(jail) ? { accept: sshdEntry, onRejected: () => (this.linesUntrusted += 1) } : {}),
      });
      this.#running.set(jail.name, { key: canonicalJson(jail), stop, counter });
      this.log.info({ jail: jail.name, source: jail.source }, "jail started");
    }
  }

  /** Counts a failure logged too long ago; says so at most once per jail every TOO_OLD_LOG_MS. */
  #tooOld(jail: JailIR, lineMs: number, now: number): void {
    this.linesTooOld[jail.name] = (this.linesTooOld[jail.name] ?? 0) + 1;
    const last = this.#tooOldLogged.get(jail.name);
    if (last !== undefined && now - last < TOO_OLD_LOG_MS) return;
    this.#tooOldLogged.set(jail.name, now);
    const lineTime = new Date(lineMs).toISOString();
    this.log.warn({ jail: jail.name, lineTime, findTimeSeconds: jail.findTimeSeconds, skipped: this.linesTooOld[jail.name] }, "jail failure logged before findTime ago; not counted");
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
