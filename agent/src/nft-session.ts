import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomUUID } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NftError } from "./nft-error.js";

/**
 * How long one script may take before the session is killed and the script handed to `nft -f`. Long:
 * a batch into an interval set first loads the whole set (about 9 s for a million elements here).
 */
const REPLY_TIMEOUT_MS = 60_000;
/** A session that dies this soon after starting, this many times in a row, is not tried again. */
const EARLY_EXIT_MS = 1_000;
const EARLY_EXITS_TO_GIVE_UP = 3;
/** Scripts longer than this go through a file nft includes: its line editor is slow on long lines. */
const INLINE_MAX = 1024;

interface Pending {
  token: string;
  resolve(): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * One long-lived `nft -i` that applies scripts, each as one transaction. Starting a process per
 * change costs 3–10 ms and blocks Node's thread while it forks (0.7 s of a 100,000-ban load went
 * there); a single ban through this session costs about a millisecond. nft reads its interactive
 * input through a line editor that is slow on long lines (about 35 µs per set element), so a long
 * script is written to a private file and loaded with `include`, which nft parses as fast as `-f`.
 *
 * Replies are framed on stderr: after each script a line nft cannot parse is written, and the
 * error nft prints for it, which repeats the line, marks the end of that script's output. Anything
 * on stderr before that mark is the script's own error.
 */
export class NftSession {
  #child: ChildProcessWithoutNullStreams | undefined;
  #startedAt = 0;
  #earlyExits = 0;
  #stderr = "";
  #queue: Pending[] = [];
  #seq = 0;
  #tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly argv: readonly string[],
    private readonly replyTimeoutMs = REPLY_TIMEOUT_MS,
  ) {}

  /** False once nft has refused interactive mode repeatedly (built without it): use `nft -f`. */
  get usable(): boolean {
    return this.#earlyExits < EARLY_EXITS_TO_GIVE_UP;
  }

  /** Applies `script` (commands one per line) as one transaction; rejects with nft's error. */
  apply(script: string): Promise<void> {
    // one script at a time: each reply is read to its mark before the next script is written
    const run = this.#tail.then(() => this.#sendScript(script));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Sends the script as one input line: its commands joined (one line is one transaction), or an include. */
  async #sendScript(script: string): Promise<void> {
    if (script.length <= INLINE_MAX) {
      return this.#send(
        script
          .split("\n")
          .filter((l) => l.trim() !== "")
          .join("; "),
      );
    }
    const file = this.#writeScratch(script);
    try {
      return await this.#send(`include ${JSON.stringify(file)}`);
    } finally {
      rmSync(file, { force: true });
    }
  }

  /**
   * A file of its own for a long script, created exclusively and readable by root alone. Memory-backed
   * where there is one (rewriting a file on a disk costs 0.35 ms, on tmpfs 0.05 ms); a system that
   * lets the agent write to neither place gets the script through `nft -f` instead.
   */
  #writeScratch(script: string): string {
    let lastError: unknown;
    for (const dir of ["/dev/shm", tmpdir()]) {
      const file = join(dir, `fleetwall-nft-${randomUUID()}.nft`);
      try {
        writeFileSync(file, script, { mode: 0o600, flag: "wx" });
        return file;
      } catch (error) {
        lastError = error;
      }
    }
    throw new SessionUnavailable(new NftError("no place to write a script for nft to include", "", { cause: lastError }));
  }

  /** Ends the nft process, refusing scripts still waiting for a reply; a later apply starts a new one. */
  close(reason = new NftError("nft session closed", "")): void {
    const child = this.#child;
    this.#child = undefined;
    child?.stdin.end();
    child?.kill();
    // scripts still waiting go through `nft -f` instead (the agent is stopping: its bans still count)
    this.#rejectAll(reason);
  }

  #send(line: string): Promise<void> {
    const child = this.#start();
    const token = `fleetwall-sync-${(this.#seq += 1)}`;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.close(new NftError("nft -i did not answer in time", "")), this.replyTimeoutMs);
      this.#queue.push({ token, resolve, reject, timer });
      this.#ref(child, true);
      child.stdin.write(`${line}\n${token}\n`);
    });
  }

  #start(): ChildProcessWithoutNullStreams {
    if (this.#child) return this.#child;
    const [cmd, ...args] = this.argv;
    const child = spawn(cmd as string, [...args, "-i"], { stdio: ["pipe", "pipe", "pipe"] });
    this.#child = child;
    this.#startedAt = Date.now();
    this.#stderr = "";
    child.stdout.on("data", () => undefined);
    child.stderr.setEncoding("utf8"); // a character split across reads stays whole
    child.stderr.on("data", (text: string) => this.#onStderr(child, text));
    child.stdin.on("error", () => undefined);
    child.on("error", (e) => this.#onExit(child, new NftError("cannot run nft -i", "", { cause: e })));
    child.on("close", (code) => this.#onExit(child, new NftError(`nft -i exited with ${code}`, this.#stderr.trim())));
    this.#ref(child, false);
    return child;
  }

  /** The session never keeps the process alive by itself, only while a script waits for its reply. */
  #ref(child: ChildProcessWithoutNullStreams, on: boolean): void {
    // the pipes are net.Sockets, which can be unref'd like the process
    const handles = [child, child.stdin, child.stdout, child.stderr] as unknown as { ref(): void; unref(): void }[];
    for (const h of handles) {
      if (on) h.ref();
      else h.unref();
    }
  }

  #onStderr(child: ChildProcessWithoutNullStreams, text: string): void {
    if (child !== this.#child) return; // a closed session's last words belong to no script now waiting
    this.#stderr += text;
    for (;;) {
      const head = this.#queue[0];
      if (!head) return;
      const mark = this.#stderr.indexOf(`\n${head.token}\n`);
      if (mark < 0) return;
      // the mark's caret line must be complete too, so that it is not taken as the next script's error
      const caretEnd = this.#stderr.indexOf("\n", mark + head.token.length + 2);
      if (caretEnd < 0) return;
      const own = this.#stderr.slice(0, this.#stderr.lastIndexOf("\n", mark - 1) + 1).trim();
      this.#stderr = this.#stderr.slice(caretEnd + 1);
      this.#queue.shift();
      clearTimeout(head.timer);
      this.#earlyExits = 0;
      if (this.#queue.length === 0) this.#ref(child, false);
      // nft marks what it refuses "Error:" (after "file:line:" inside an include) and what it only
      // warns about "Warning:"; output that is neither counts as refused, never as applied
      const refused = own !== "" && (/(?:^|: )Error: /m.test(own) || !/(?:^|: )Warning: /m.test(own));
      if (refused) head.reject(new NftError("nft refused the script", own));
      else head.resolve();
    }
  }

  #onExit(child: ChildProcessWithoutNullStreams, error: NftError): void {
    // a process closed earlier has had its scripts refused already; the queue belongs to its successor
    if (this.#child !== child) return;
    this.#child = undefined;
    if (Date.now() - this.#startedAt < EARLY_EXIT_MS) this.#earlyExits += 1;
    this.#rejectAll(error);
  }

  #rejectAll(error: NftError): void {
    const queue = this.#queue;
    this.#queue = [];
    for (const p of queue) {
      clearTimeout(p.timer);
      p.reject(new SessionUnavailable(error));
    }
  }
}

/**
 * The script did not go through the session to a reply: the session ended first (whether the script
 * took effect is unknown) or could not take it. Running an idempotent script again is safe.
 */
export class SessionUnavailable extends NftError {
  override name = "SessionUnavailable";
  constructor(cause: NftError) {
    super(cause.message, cause.stderr, { cause });
  }
}
