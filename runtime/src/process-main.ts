import type { Logger } from "pino";
import { ShutdownTimeoutError, Supervisor, type SupervisorOptions } from "./supervisor.js";

/** How long a process may take to stop after SIGTERM, or after its first failure. */
export const DEFAULT_GRACE_MS = 3_000;

/** The signal that asked the process to stop: a clean stop, exit code 0. */
export class StopRequested extends Error {
  override name = "StopRequested";
}

export interface ProcessOptions extends Partial<SupervisorOptions> {
  /** The command's name in the one-line reason (`fleetwall controller: …`). */
  name: string;
  log: Logger;
  /** Where the one-line reason goes (stderr). */
  write?: (line: string) => void;
}

/**
 * A process's lifecycle, for the `main.ts` of the controller and of the agent: SIGINT and SIGTERM
 * stop it cleanly (exit 0); a failure stops it with exit code 1 and one line on stderr saying why;
 * a second signal, or a shutdown that overruns its grace period, exits at once. Returns the exit code
 * (set as process.exitCode too): library code never exits the process.
 */
export async function runProcess(options: ProcessOptions, setup: (s: Supervisor) => Promise<void>): Promise<number> {
  const { log, name } = options;
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  const supervisor = new Supervisor({ log, graceMs: options.graceMs ?? DEFAULT_GRACE_MS });
  const parent = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (parent.signal.aborted) {
      write(`fleetwall ${name}: ${sig} again: exiting without waiting\n`);
      process.exit(130);
    }
    log.info({ signal: sig }, "stopping");
    parent.abort(new StopRequested(sig));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  let code = 0;
  let stuck = false;
  try {
    await supervisor.supervise(parent.signal, setup);
    log.info("stopped");
  } catch (error) {
    code = 1;
    stuck = error instanceof ShutdownTimeoutError;
    log.error({ err: error }, "stopped by a failure");
    write(`fleetwall ${name}: ${oneLine(error)}\n`);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  process.exitCode = code;
  // whatever still holds the event loop now is a leak: say so, and do not let it keep the process
  // (at once when the shutdown overran: something is known to be stuck)
  setTimeout(() => {
    log.warn({ handles: process.getActiveResourcesInfo() }, "process kept alive after shutdown; exiting");
    process.exit(code);
  }, stuck ? 0 : 1_000).unref();
  return code;
}

/** The error as one line: its message, with its causes' messages after it. */
export function oneLine(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e !== undefined && parts.length < 4; e = (e as { cause?: unknown }).cause) {
    const m = e instanceof Error ? e.message : String(e);
    if (!parts.some((p) => p.includes(m))) parts.push(m);
    if (!(e instanceof Error)) break;
  }
  return parts.join(": ").replace(/\s*\n\s*/g, " ");
}
