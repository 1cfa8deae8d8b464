import { watch, type FSWatcher } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import type { Resource } from "@fleetwall/api";
import { mergeResources, parseManifestText, type ParsedFile, type PolicySet } from "./manifests.js";

export interface DirSourceOptions {
  dir: string;
  /** Rescan interval; the file watcher is the fast path, this the safety net. */
  rescanMs: number;
  /** Quiet time after a change before reading, so an editor's several writes count once. */
  debounceMs: number;
  onChange: (set: PolicySet) => void;
  onError: (error: unknown) => void;
}

/** Watches a directory of YAML manifests and reports the merged policy set whenever it changes. */
export class DirSource {
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #interval: NodeJS.Timeout | undefined;
  #last: Resource[] = [];
  #lastKey = "";
  #scanning: Promise<void> = Promise.resolve();

  constructor(private readonly options: DirSourceOptions) {}

  async start(): Promise<void> {
    await this.scan();
    this.#watcher = watch(this.options.dir, { recursive: true }, () => this.#schedule());
    this.#watcher.on("error", (e) => this.options.onError(e));
    this.#interval = setInterval(() => this.#schedule(), this.options.rescanMs);
  }

  stop(): void {
    this.#watcher?.close();
    clearTimeout(this.#timer);
    clearInterval(this.#interval);
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#scanning = this.#scanning.then(() => this.scan()).catch((e: unknown) => this.options.onError(e));
    }, this.options.debounceMs);
  }

  /** Reads every .yaml/.yml/.json file below the directory once and reports if anything changed. */
  async scan(): Promise<void> {
    const files = new Map<string, ParsedFile>();
    const entries = await readdir(this.options.dir, { recursive: true, withFileTypes: true });
    for (const entry of entries) {
      if (!entry.isFile() || !/\.(ya?ml|json)$/.test(entry.name) || entry.name.startsWith(".")) continue;
      const path = join(entry.parentPath, entry.name);
      const rel = relative(this.options.dir, path);
      let text: string;
      try {
        text = await readFile(path, "utf8");
      } catch {
        continue; // removed between readdir and read: the next scan sees it gone
      }
      files.set(rel, parseManifestText(rel, text));
    }
    const set = mergeResources(files, this.#last);
    const key = JSON.stringify(set);
    if (key === this.#lastKey) return;
    this.#lastKey = key;
    this.#last = [...set.policies, ...set.banLists];
    this.options.onChange(set);
  }
}
