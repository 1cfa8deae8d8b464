import { execFile } from "node:child_process";

export class CommandError extends Error {
  override name = "CommandError";
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super(message);
  }
}

/** Runs a command to completion; resolves to stdout, rejects with stderr on a non-zero exit. */
export function sh(cmd: string, args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: options.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new CommandError(`${cmd} ${args.join(" ")}: ${stderr.trim() || error.message}`, stderr));
      else resolve(stdout);
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Runs a command, ignoring failure (for cleanup of things that may already be gone). */
export async function shQuiet(cmd: string, args: string[]): Promise<void> {
  await sh(cmd, args).catch(() => undefined);
}

/** Polls `check` until it returns a truthy value or the deadline passes; returns the value. */
export async function waitFor<T>(what: string, check: () => Promise<T> | T, timeoutMs = 30_000, intervalMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Polls `progress` until it reaches `target`, failing only when it has not grown for `stallMs` (or
 * has kept throwing that long). For work whose length depends on the machine's load (a bulk load),
 * the deadline follows the work's own progress, not a guess of the wall-clock time it takes.
 */
export async function waitForProgress(what: string, progress: () => Promise<number> | number, target: number, { stallMs = 60_000, intervalMs = 1000 } = {}): Promise<void> {
  let best = -Infinity;
  let since = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await progress();
      if (v >= target) return;
      if (v > best) [best, since] = [v, Date.now()];
    } catch (e) {
      last = e;
    }
    if (Date.now() - since > stallMs) {
      throw new Error(`no progress for ${stallMs} ms waiting for ${what} (at ${best} of ${target})${last ? `: ${String(last)}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
