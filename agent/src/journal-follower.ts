import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

export interface JournalFollowerOptions {
  /** systemd unit to follow (`journalctl -u`). */
  unit?: string;
  /** SYSLOG_IDENTIFIER to follow (`journalctl -t`). */
  identifier?: string;
  /** Resume after this cursor (saved from a previous run); without it, start with new entries. */
  cursor: string | undefined;
  onLines: (lines: string[]) => void;
  onCursor: (cursor: string) => void;
  onError: (error: unknown) => void;
  /**
   * Which entries count, judged on the journal's trusted fields (`sshdEntry`); the others are
   * told to `onRejected` and dropped. Without it every entry counts.
   */
  accept?: (entry: Record<string, unknown>) => boolean;
  onRejected?: () => void;
  journalctl?: string;
}

const SSHD_PROGRAMS = new Set(["sshd", "sshd-session", "sshd-auth"]);
/** Debian's ssh.service, other distributions' sshd.service, and socket-activated instances. */
const SSHD_UNIT = /^(?:sshd?\.service|sshd?@[^/]*\.service)$/;

/**
 * Whether a journal entry is sshd's, by the fields journald sets itself from the sending process's
 * kernel credentials (`_`-prefixed: no client can set them), not by SYSLOG_IDENTIFIER, which any
 * local user chooses (`systemd-cat -t sshd`, `logger -t sshd`): the entry's process runs in sshd's
 * unit, or it is a program named sshd (`_COMM`, or `_EXE` ending in /sshd) running as root, as
 * sshd's monitor does (its preauth children log through it). A local user can name a program
 * sshd, not run it as root or in ssh.service.
 */
export function sshdEntry(entry: Record<string, unknown>): boolean {
  const unit = text(entry._SYSTEMD_UNIT);
  if (unit !== undefined && SSHD_UNIT.test(unit)) return true;
  if (text(entry._UID) !== "0") return false;
  const comm = text(entry._COMM);
  const exe = text(entry._EXE);
  return (comm !== undefined && SSHD_PROGRAMS.has(comm)) || (exe !== undefined && SSHD_PROGRAMS.has(exe.slice(exe.lastIndexOf("/") + 1)));
}

/** A field's text: a string, or an array of bytes when it is not valid UTF-8. */
function text(field: unknown): string | undefined {
  if (typeof field === "string") return field;
  return Array.isArray(field) ? Buffer.from(field as number[]).toString("utf8") : undefined;
}

/**
 * An entry as the syslog line filters expect, `host ident[pid]: message` (fail2ban's journal
 * backend writes the same), so that filters can tell sessions apart by pid.
 */
export function journalLine(entry: Record<string, unknown>): string | undefined {
  const message = text(entry.MESSAGE);
  if (message === undefined) return undefined;
  const ident = text(entry.SYSLOG_IDENTIFIER) ?? text(entry._COMM);
  if (!ident) return message;
  const pid = text(entry.SYSLOG_PID) ?? text(entry._PID);
  const host = text(entry._HOSTNAME);
  return `${host ? `${host} ` : ""}${ident}${pid ? `[${pid}]` : ""}: ${message}`;
}

const OUTPUT_FIELDS = "MESSAGE,__CURSOR,_HOSTNAME,SYSLOG_IDENTIFIER,_COMM,_EXE,_UID,_SYSTEMD_UNIT,SYSLOG_PID,_PID";

/**
 * Follows the systemd journal through `journalctl -f -o json`, resuming after the saved cursor.
 * journalctl is restarted with the last cursor if it exits while the follower runs.
 */
export class JournalFollower {
  #child: ChildProcess | undefined;
  #cursor: string | undefined;
  #stopped = false;
  #restart: NodeJS.Timeout | undefined;

  constructor(private readonly options: JournalFollowerOptions) {
    this.#cursor = options.cursor;
  }

  start(): void {
    const args = ["-f", "-o", "json", "--no-pager", `--output-fields=${OUTPUT_FIELDS}`];
    if (this.options.unit) args.push("-u", this.options.unit);
    if (this.options.identifier) args.push("-t", this.options.identifier);
    args.push(this.#cursor ? `--after-cursor=${this.#cursor}` : "--lines=0");
    const child = spawn(this.options.journalctl ?? "journalctl", args, { stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    const rl = createInterface({ input: child.stdout });
    rl.on("line", (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        return;
      }
      const message = journalLine(entry);
      if (message !== undefined && this.options.accept && !this.options.accept(entry)) this.options.onRejected?.();
      else if (message !== undefined) this.options.onLines([message]);
      if (typeof entry.__CURSOR === "string") {
        this.#cursor = entry.__CURSOR;
        this.options.onCursor(entry.__CURSOR);
      }
    });
    child.on("error", (e) => this.options.onError(e));
    child.on("exit", () => {
      if (this.#stopped) return;
      this.#restart = setTimeout(() => this.start(), 1000);
    });
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#restart);
    this.#child?.kill("SIGTERM");
  }
}
