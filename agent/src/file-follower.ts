import { open, stat, type FileHandle } from "node:fs/promises";
import { watch, type FSWatcher } from "node:fs";
import { dirname } from "node:path";

const MAX_PARTIAL = 1024 * 1024;

export interface FollowPosition {
  inode: number;
  offset: number;
}

export interface FollowerOptions {
  path: string;
  /** Where to start: a saved position (used when the inode matches), else the end of the file. */
  start: FollowPosition | undefined;
  onLines: (lines: string[]) => void;
  onPosition: (pos: FollowPosition) => void;
  pollMs: number;
}

/**
 * Follows a log file like `tail -F`: new lines as they are written (inotify through fs.watch, with
 * a poll as a safety net), across rotation (a new inode: the old file is read to its end first)
 * and truncation (a shorter file: start again from 0).
 */
export class FileFollower {
  #fh: FileHandle | undefined;
  #pos: FollowPosition = { inode: 0, offset: 0 };
  #partial = "";
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reading: Promise<void> | undefined;
  #again = false;
  #stopped = false;

  constructor(private readonly options: FollowerOptions) {}

  async start(): Promise<void> {
    const st = await stat(this.options.path).catch(() => undefined);
    if (st) {
      const saved = this.options.start;
      const offset = saved && saved.inode === st.ino && saved.offset <= st.size ? saved.offset : st.size;
      this.#fh = await open(this.options.path, "r");
      this.#pos = { inode: st.ino, offset };
    }
    this.#watcher = watch(dirname(this.options.path), () => this.poke());
    this.#watcher.on("error", () => undefined);
    this.#timer = setInterval(() => this.poke(), this.options.pollMs);
    this.poke();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watcher?.close();
    clearInterval(this.#timer);
    await this.#reading;
    await this.#fh?.close();
  }

  /** Reads whatever is new; calls made while reading coalesce into one more pass. */
  poke(): void {
    if (this.#stopped) return;
    if (this.#reading) {
      this.#again = true;
      return;
    }
    this.#reading = (async () => {
      do {
        this.#again = false;
        await this.#readNew().catch(() => undefined);
      } while (this.#again && !this.#stopped);
      this.#reading = undefined;
    })();
  }

  async #readNew(): Promise<void> {
    const st = await stat(this.options.path).catch(() => undefined);
    if (this.#fh && (!st || st.ino !== this.#pos.inode)) {
      await this.#drain(); // rotated: finish the old file first
      await this.#fh.close();
      this.#fh = undefined;
      this.#partial = "";
    }
    if (!st) return;
    if (!this.#fh) {
      this.#fh = await open(this.options.path, "r");
      this.#pos = { inode: st.ino, offset: 0 };
    } else if (st.size < this.#pos.offset) {
      this.#pos = { inode: st.ino, offset: 0 }; // truncated
      this.#partial = "";
    }
    await this.#drain();
  }

  async #drain(): Promise<void> {
    const fh = this.#fh as FileHandle;
    const buf = Buffer.alloc(256 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, this.#pos.offset);
      if (bytesRead === 0) break;
      const text = this.#partial + buf.toString("utf8", 0, bytesRead);
      const lines = text.split("\n");
      this.#partial = lines.pop() ?? "";
      if (this.#partial.length > MAX_PARTIAL) {
        // a "line" that never ends: hand over its start, drop the rest, and keep memory bounded
        lines.push(this.#partial.slice(0, 64 * 1024));
        this.#partial = "";
      }
      this.#pos = { ...this.#pos, offset: this.#pos.offset + bytesRead };
      if (lines.length > 0) this.options.onLines(lines);
    }
    this.options.onPosition({ inode: this.#pos.inode, offset: this.#pos.offset - Buffer.byteLength(this.#partial) });
  }
}
