import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import { parseManifestText, type ParsedFile } from "./manifests.js";

/**
 * Parsing a large manifest off the event loop. YAML is the slow part of reading a policy: 5 MB (a
 * policy of 200,000 sources) takes the `yaml` library about a second, and the controller must keep
 * answering `status`, `/healthz` and ban requests meanwhile. Files from SMALL_FILE_BYTES up are parsed
 * in a worker thread, which runs this very module (the bundle's chunk, or controller/dist/) and
 * answers each text with its ParsedFile (a structured clone: 15 ms for 5 MB). Where the module
 * cannot be run by a worker (the TypeScript sources under a test runner), parsing stays inline.
 */
const ROLE = "fleetwall-manifest-parser";
const SMALL_FILE_BYTES = 256 * 1024;
/** A worker with nothing to parse for this long is ended: its heap (tens of MB after a big file) is given back. */
const IDLE_MS = 10_000;

interface Request {
  id: number;
  file: string;
  text: string;
}

if (!isMainThread && workerData === ROLE) {
  parentPort?.on("message", (m: Request) => parentPort?.postMessage({ id: m.id, parsed: parseManifestText(m.file, m.text) }));
}

export class ManifestParser {
  #worker: Worker | undefined;
  #idle: NodeJS.Timeout | undefined;
  #next = 0;
  readonly #pending = new Map<number, { resolve: (p: ParsedFile) => void; reject: (e: unknown) => void }>();
  #closed = false;
  /** Files parsed by the worker thread (for tests and metrics). */
  offloaded = 0;

  constructor(private readonly url: URL = new URL(import.meta.url)) {}

  /** True when this module can run in a worker: built JavaScript, not TypeScript sources. */
  get canOffload(): boolean {
    return /\.m?js$/.test(this.url.pathname);
  }

  parse(file: string, text: string): Promise<ParsedFile> {
    if (this.#closed) return Promise.reject(new ManifestParserClosed());
    if (text.length < SMALL_FILE_BYTES || !this.canOffload) return Promise.resolve(parseManifestText(file, text));
    const worker = this.#ensureWorker();
    const id = this.#next++;
    this.offloaded += 1;
    const offloaded = new Promise<ParsedFile>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ id, file, text } satisfies Request);
    });
    // a worker that died (out of memory, killed) must not make a file look empty: parse it here instead,
    // unless the parser was closed: the process is stopping, and a 5 MB parse here would hold it up
    return offloaded.catch((error: unknown) => {
      if (this.#closed) throw error;
      return parseManifestText(file, text);
    });
  }

  /** Ends the parser for good (the process is stopping): a parse still waiting is refused, not done here. */
  close(): void {
    this.#closed = true;
    for (const p of this.#pending.values()) p.reject(new ManifestParserClosed());
    this.#pending.clear();
    this.stop();
  }

  stop(): void {
    clearTimeout(this.#idle);
    void this.#worker?.terminate();
    this.#worker = undefined;
  }

  #ensureWorker(): Worker {
    clearTimeout(this.#idle);
    if (this.#worker) return this.#worker;
    const worker = new Worker(this.url, { workerData: ROLE });
    // an idle parser does not keep the process alive
    worker.unref();
    worker.on("message", (m: { id: number; parsed: ParsedFile }) => {
      this.#pending.get(m.id)?.resolve(m.parsed);
      this.#pending.delete(m.id);
      if (this.#pending.size === 0) {
        clearTimeout(this.#idle);
        this.#idle = setTimeout(() => this.stop(), IDLE_MS);
        this.#idle.unref();
      }
    });
    const fail = (error: unknown) => {
      if (this.#worker === worker) this.#worker = undefined;
      for (const p of this.#pending.values()) p.reject(error);
      this.#pending.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new ManifestWorkerError(`manifest parser exited with code ${code}`)));
    this.#worker = worker;
    return worker;
  }
}

export class ManifestWorkerError extends Error {
  override name = "ManifestWorkerError";
}

export class ManifestParserClosed extends Error {
  override name = "ManifestParserClosed";
  constructor() {
    super("manifest parser closed: the process is stopping");
  }
}
