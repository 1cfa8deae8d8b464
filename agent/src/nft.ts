import { spawn } from "node:child_process";
import { NftError } from "./nft-error.js";
import { NftSession, SessionUnavailable } from "./nft-session.js";

export { NftError } from "./nft-error.js";

export interface NftRunner {
  /** Runs nft with `args`, feeding `stdin`; resolves to stdout. */
  run(args: string[], stdin?: string): Promise<string>;
  /** Applies a script as one transaction, through a long-lived nft where there is one. */
  transact?(script: string): Promise<void>;
  /** Ends any long-lived nft process. */
  close?(): void;
  /** Scripts `transact` ran through a process of their own because the long-lived nft could not take them. */
  readonly fallbacks?: number;
}

/** The real nft binary. `prefix` runs it through another command (e.g. `ip netns exec NS`). */
export function nftBinary(options: { binary?: string; prefix?: string[]; session?: boolean } = {}): NftRunner {
  const binary = options.binary ?? "nft";
  const prefix = options.prefix ?? [];
  const session = options.session === false ? undefined : new NftSession([...prefix, binary]);
  let fallbacks = 0;
  return {
    get fallbacks() {
      return fallbacks;
    },
    async transact(script) {
      if (session?.usable) {
        try {
          return await session.apply(script);
        } catch (error) {
          // the session died or could not take the script (or nft has no interactive mode): ban scripts
          // are idempotent, so run it again through a process of its own
          if (!(error instanceof SessionUnavailable)) throw error;
        }
      }
      if (session) fallbacks += 1;
      await this.run(["-f", "-"], script);
    },
    close() {
      session?.close();
    },
    run(args, stdin) {
      const argv = [...prefix, binary, ...args];
      return new Promise((resolve, reject) => {
        const child = spawn(argv[0] as string, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on("data", (d: Buffer) => out.push(d));
        child.stderr.on("data", (d: Buffer) => err.push(d));
        child.on("error", (e) => reject(new NftError(`cannot run ${binary}`, "", { cause: e })));
        child.on("close", (code) => {
          const stderr = Buffer.concat(err).toString();
          if (code === 0) resolve(Buffer.concat(out).toString());
          else reject(new NftError(`nft ${args.join(" ")} exited with ${code}`, stderr.trim()));
        });
        child.stdin.on("error", () => undefined);
        child.stdin.end(stdin ?? "");
      });
    },
  };
}

/** Loads a script as one atomic transaction. */
export async function applyScript(nft: NftRunner, script: string): Promise<void> {
  await nft.run(["-f", "-"], script);
}

/** Asks nft whether it would accept a script, changing nothing. */
export async function checkScript(nft: NftRunner, script: string): Promise<void> {
  await nft.run(["-c", "-f", "-"], script);
}

export interface NftObject {
  [kind: string]: Record<string, unknown>;
}

/** Lists a table as nft JSON without set elements; undefined when the table does not exist. */
export async function listTable(nft: NftRunner, family: string, table: string): Promise<NftObject[] | undefined> {
  try {
    const out = await nft.run(["-j", "-t", "list", "table", family, table]);
    const parsed = JSON.parse(out) as { nftables: NftObject[] };
    return parsed.nftables.filter((o) => !("metainfo" in o));
  } catch (e) {
    if (e instanceof NftError && /No such file or directory/.test(e.stderr)) return undefined;
    throw e;
  }
}

export async function nftVersion(nft: NftRunner): Promise<string> {
  const out = await nft.run(["--version"]);
  return /v(\d+\.\d+\.\d+)/.exec(out)?.[1] ?? out.trim();
}
