import { readdir, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { FileFollower, type FollowPosition } from "./file-follower.js";

/** The most files one glob follows; more are refused with an error, not followed. */
export const MAX_GLOB_FILES = 64;

export class TooManyLogFiles extends Error {
  constructor(
    readonly pattern: string,
    readonly matched: number,
  ) {
    super(`${pattern} matches ${matched} files; only the first ${MAX_GLOB_FILES} (by name) are followed`);
    this.name = "TooManyLogFiles";
  }
}

export class BadLogGlob extends Error {
  constructor(readonly pattern: string) {
    super(`${pattern}: a glob may only be in the file name, not in a directory`);
    this.name = "BadLogGlob";
  }
}

/** Whether a path has glob characters (`*`, `?`, `[`). */
export const isGlob = (path: string) => /[*?[]/.test(path);

/** A file-name glob (`*`, `?`, `[abc]`, `[!abc]`, as fail2ban's glob.glob) as an anchored regex. Pure. */
export function globRegex(name: string): RegExp {
  let out = "";
  for (let i = 0; i < name.length; i++) {
    const c = name[i] as string;
    const close = c === "[" ? name.indexOf("]", i + 2) : -1;
    if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (close > 0) {
      const body = name.slice(i + 1, close);
      out += `[${body.startsWith("!") ? `^${body.slice(1)}` : body}]`.replace(/\\/g, "\\\\");
      i = close;
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}

export interface GlobFollowerOptions {
  pattern: string;
  /** A saved position of one file, by its path. */
  saved: (path: string) => FollowPosition | undefined;
  onLines: (lines: string[]) => void;
  onPosition: (path: string, pos: FollowPosition) => void;
  onError: (error: Error) => void;
  pollMs: number;
  /** How often the directory is listed again for new (or gone) files. */
  rescanMs: number;
}

/**
 * Follows every file a glob matches (glob in the file name only), each with its own position:
 * files there at start from their saved position or their end, files that appear later from their
 * start. Files that stop matching are read to their end and dropped. At most MAX_GLOB_FILES.
 */
export class GlobFollower {
  readonly #followers = new Map<string, FileFollower>();
  readonly #dir: string;
  readonly #match: RegExp;
  #timer: NodeJS.Timeout | undefined;
  #scanning: Promise<void> = Promise.resolve();
  #reported = 0;
  #stopped = false;

  constructor(private readonly options: GlobFollowerOptions) {
    this.#dir = dirname(options.pattern);
    if (isGlob(this.#dir)) throw new BadLogGlob(options.pattern);
    this.#match = globRegex(basename(options.pattern));
  }

  /** The files followed now. */
  get files(): string[] {
    return [...this.#followers.keys()];
  }

  async start(): Promise<void> {
    await this.#scan(true);
    this.#timer = setInterval(() => {
      // a scan that throws (out of file descriptors) is reported, and the next one still comes
      this.#scanning = this.#scanning.then(() => this.#scan(false)).catch((e: unknown) => this.options.onError(e instanceof Error ? e : new Error(String(e))));
    }, this.options.rescanMs);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#scanning;
    await Promise.all([...this.#followers.values()].map((f) => f.stop()));
    this.#followers.clear();
  }

  async #scan(initial: boolean): Promise<void> {
    if (this.#stopped) return;
    const names = (await readdir(this.#dir).catch(() => [] as string[])).filter((n) => this.#match.test(n)).sort();
    if (names.length > MAX_GLOB_FILES && names.length !== this.#reported) this.options.onError(new TooManyLogFiles(this.options.pattern, names.length));
    this.#reported = names.length > MAX_GLOB_FILES ? names.length : 0;
    const want = new Set(names.slice(0, MAX_GLOB_FILES).map((n) => join(this.#dir, n)));
    for (const [path, f] of this.#followers) {
      if (want.has(path)) continue;
      this.#followers.delete(path);
      f.poke(); // read what is left before letting go
      await f.stop();
    }
    for (const path of want) {
      if (this.#followers.has(path) || this.#stopped) continue;
      const st = await stat(path).catch(() => undefined);
      if (!st?.isFile()) continue;
      const start = this.options.saved(path) ?? (initial ? undefined : { inode: st.ino, offset: 0 });
      const f = new FileFollower({ path, start, pollMs: this.options.pollMs, onLines: this.options.onLines, onPosition: (pos) => this.options.onPosition(path, pos) });
      this.#followers.set(path, f);
      await f.start();
    }
  }
}
