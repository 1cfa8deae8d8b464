import { watch, type FSWatcher } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { sha256Hex, type Resource } from "@fleetwall/api";
import { ManifestParser } from "./manifest-worker.js";
import { mergeResources, type ParsedFile, type PolicySet } from "./manifests.js";

export interface DirSourceOptions {
  dir: string;
  /** Rescan interval; the file watcher is the fast path, this the safety net. */
  rescanMs: number;
  /** Quiet time after a change before reading, so an editor's several writes count once. */
  debounceMs: number;
  onChange: (set: PolicySet) => void;
  onError: (error: unknown) => void;
  /**
   * The versions in force before this process started (the last-good bucket): a policy whose file is
   * now invalid keeps it, and a name defined twice keeps its incumbent, across controller restarts.
   */
  initial?: readonly Resource[];
}

/** Reads every manifest below `dir` once and merges them (`--check-config`, offline commands). */
export async function readManifestDir(dir: string): Promise<PolicySet> {
  let result: PolicySet | undefined;
  const source = new DirSource({ dir, rescanMs: 0, debounceMs: 0, onChange: (set) => (result = set), onError: () => undefined });
  try {
    await source.scan(true);
  } finally {
    source.stop();
  }
  return result ?? { policies: [], banLists: [], errors: [] };
}

/** Watches a directory of YAML manifests and reports the merged policy set whenever it changes. */
export class DirSource {
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #interval: NodeJS.Timeout | undefined;
  #last: Resource[] = [];
  #lastKey = "";
  #scanning: Promise<void> = Promise.resolve();
  /** What each file held when last read, by its stat stamp. */
  #files = new Map<string, { stamp: string; digest: string; parsed: ParsedFile }>();
  #fullPending = false;
  #stopped = false;
  /** Large files are parsed in a worker thread, so a 5 MB policy does not stall the controller. */
  readonly #parser = new ManifestParser();

  constructor(private readonly options: DirSourceOptions) {
    this.#last = [...(options.initial ?? [])];
  }

  async start(): Promise<void> {
    await this.scan();
    this.#watcher = watch(this.options.dir, { recursive: true }, () => this.#schedule());
    this.#watcher.on("error", (e) => this.options.onError(e));
    this.#interval = setInterval(() => this.#schedule(true), this.options.rescanMs);
  }

  stop(): void {
    this.#watcher?.close();
    clearTimeout(this.#timer);
    clearInterval(this.#interval);
    this.#stopped = true;
    this.#parser.close();
  }

  #schedule(full = false): void {
    clearTimeout(this.#timer);
    this.#fullPending ||= full;
    this.#timer = setTimeout(() => {
      const all = this.#fullPending;
      this.#fullPending = false;
      this.#scanning = this.#scanning.then(() => this.scan(all)).catch((e: unknown) => this.options.onError(e));
    }, this.options.debounceMs);
  }

  /**
   * Reads the .yaml/.yml/.json files below the directory and reports if anything changed. A file whose
   * identity, size and times are unchanged is not read again (a change to one of 200 policies parsed
   * all 200); `full` reads everything, for the periodic rescan.
   */
  async scan(full = false): Promise<void> {
    const files = new Map<string, ParsedFile>();
    const seen = new Map<string, { stamp: string; digest: string; parsed: ParsedFile }>();
    const entries = await readdir(this.options.dir, { recursive: true, withFileTypes: true });
    for (const entry of entries) {
      if (!entry.isFile() || !/\.(ya?ml|json)$/.test(entry.name) || entry.name.startsWith(".")) continue;
      const path = join(entry.parentPath, entry.name);
      const rel = relative(this.options.dir, path);
      let parsed: ParsedFile;
      try {
        const st = await stat(path);
        const stamp = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
        const cached = this.#files.get(rel);
        let digest = cached?.digest ?? "";
        if (!full && cached?.stamp === stamp) parsed = cached.parsed;
        else {
          // the periodic rescan reads every file again, but parses only text that changed: a 5 MB
          // policy is hashed in milliseconds, parsed in a second, and recompiled if its spec objects change
          const text = await readFile(path, "utf8");
          digest = sha256Hex(text);
          parsed = cached?.digest === digest ? cached.parsed : await this.#parser.parse(rel, text);
        }
        seen.set(rel, { stamp, digest, parsed });
      } catch {
        continue; // removed between readdir and read: the next scan sees it gone
      }
      files.set(rel, parsed);
    }
    // stopped while reading: a file whose parse was refused is not gone, and nothing is reported any more
    if (this.#stopped) return;
    this.#files = seen;
    const set = mergeResources(files, this.#last);
    // what tells one set from another without serialising every spec (5 MB for a big policy, on
    // every rescan): a spec that changes changes its generation, which is in the metadata
    const key = JSON.stringify({ resources: [...set.policies, ...set.banLists].map((r) => [r.kind, r.metadata]), errors: set.errors });
    if (key === this.#lastKey) return;
    this.#lastKey = key;
    this.#last = [...set.policies, ...set.banLists];
    this.options.onChange(set);
  }
}
