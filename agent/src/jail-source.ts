import type { JailIR } from "@fleetwall/api";
import { FileFollower, type FollowPosition } from "./file-follower.js";
import { JournalFollower } from "./journal-follower.js";

/** What following a jail's source needs: where it stopped before, and where its lines and positions go. */
export interface SourceHooks {
  /** Saved positions, by file path or journal key (`journal:<unit>:<identifier>`). */
  positions: Readonly<Record<string, FollowPosition | string>>;
  onLines: (lines: string[]) => void;
  /** Told each new position under the key `positions` has it. */
  onPosition: (key: string, pos: FollowPosition | string) => void;
  onJournalError: (error: unknown) => void;
  /** Journal entries count only when this accepts them (trusted fields: `sshdEntry`). */
  accept?: (entry: Record<string, unknown>) => boolean;
  /** Told each journal entry `accept` refused. */
  onRejected?: () => void;
}

/**
 * Whether a jail reads sshd's log (an sshd filter, or a journal source naming sshd): its journal
 * entries then count only when the journal's trusted fields say sshd wrote them (`sshdEntry`).
 */
export function readsSshd(jail: Pick<JailIR, "filter" | "source">): boolean {
  if (/^sshd(?:-|$)/.test(jail.filter ?? "")) return true;
  if (!("journal" in jail.source)) return false;
  const { unit, identifier } = jail.source.journal;
  return /^sshd(?:-session|-auth)?$/.test(identifier ?? "") || /^sshd?(?:\.service)?$/.test(unit ?? "");
}

/** The key of a source's saved position. */
export function sourceKey(source: JailIR["source"]): string {
  if ("file" in source) return source.file;
  const { unit, identifier } = source.journal;
  return `journal:${unit ?? ""}:${identifier ?? ""}`;
}

/** Starts following a jail's log (a file, or the journal) from its saved position; returns how to stop. */
export async function followSource(source: JailIR["source"], hooks: SourceHooks): Promise<() => Promise<void>> {
  const key = sourceKey(source);
  const saved = hooks.positions[key];
  if ("file" in source) {
    const follower = new FileFollower({
      path: source.file,
      start: typeof saved === "object" ? saved : undefined,
      pollMs: 1000,
      onPosition: (pos) => hooks.onPosition(key, pos),
      onLines: hooks.onLines,
    });
    await follower.start();
    return () => follower.stop();
  }
  const { unit, identifier } = source.journal;
  const follower = new JournalFollower({
    ...(unit ? { unit } : {}),
    ...(identifier ? { identifier } : {}),
    cursor: typeof saved === "string" ? saved : undefined,
    onLines: hooks.onLines,
    onCursor: (cursor) => hooks.onPosition(key, cursor),
    onError: hooks.onJournalError,
    ...(hooks.accept ? { accept: hooks.accept } : {}),
    ...(hooks.onRejected ? { onRejected: hooks.onRejected } : {}),
  });
  follower.start();
  return async () => follower.stop();
}
