import { constants, readFileSync } from "node:fs";
import { access, readdir, readFile, stat } from "node:fs/promises";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { delimiter, join } from "node:path";
import { HostId, boundedDurationMs, isCidr, parseCidr, parseLabelList } from "@fleetwall/api";
import { z } from "zod";

/** Duration flags, in the one grammar of api/src/duration.ts, as milliseconds within bounds per flag. */
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const duration = (defaultText: string, min: number, max: number) => boundedDurationMs(min, max).prefault(defaultText);

const SCHEMES = new Set(["nats:", "tls:", "ws:", "wss:"]);

/** Why a NATS server address is not one, or undefined: `nats://HOST[:PORT]`, `tls://…`, or `HOST:PORT`. */
export function natsUrlProblem(text: string): string | undefined {
  const withScheme = text.includes("://");
  if (!withScheme && !/^(\[[0-9a-fA-F:.]+\]|[^:/\s]+):\d{1,5}$/.test(text)) return `"${text}" is not a NATS URL: write nats://HOST:4222, tls://HOST:4222 or HOST:PORT`;
  let url: URL;
  try {
    url = new URL(withScheme ? text : `nats://${text}`);
  } catch {
    return `"${text}" is not a URL`;
  }
  if (!SCHEMES.has(url.protocol)) return `"${text}": the scheme must be nats, tls, ws or wss`;
  if (!url.hostname) return `"${text}" names no host`;
  if ((url.pathname && url.pathname !== "/") || url.search || url.hash) return `"${text}": a NATS URL has no path or query`;
  return undefined;
}

const Servers = z
  .string()
  .min(1, "at least one NATS URL is needed")
  .transform((s) => s.split(",").map((u) => u.trim()).filter(Boolean))
  .superRefine((urls, ctx) => {
    if (urls.length === 0) ctx.addIssue({ code: "custom", message: "at least one NATS URL is needed" });
    for (const u of urls) {
      const problem = natsUrlProblem(u);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    }
  });

/** Credentials and TLS files for NATS (see nats-access.ts). */
const NatsFiles = {
  natsNkey: z.string().min(1).optional(),
  natsCreds: z.string().min(1).optional(),
  natsCa: z.string().min(1).optional(),
  natsCert: z.string().min(1).optional(),
  natsKey: z.string().min(1).optional(),
  natsTlsName: z.string().min(1).optional(),
};

const Listen = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:]*):\d{1,5}$/, "must be HOST:PORT, e.g. 127.0.0.1:9475 or :8080");

const LogLevel = z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info");

export const ControllerConfig = z.object({
  nats: Servers,
  ...NatsFiles,
  source: z
    .string()
    .regex(/^(dir:.+|kube)$/, "must be dir:PATH or kube")
    .transform((s) => (s === "kube" ? { kind: "kube" as const, path: "" } : { kind: "dir" as const, path: s.slice(4) })),
  kubeconfig: z.string().min(1).optional(),
  leaseNamespace: z.string().min(1).default("fleetwall"),
  leaseName: z.string().min(1).default("fleetwall-controller"),
  leaseDuration: duration("15s", SECOND, 5 * MINUTE),
  leaseRetry: duration("2s", 100, MINUTE),
  identity: z.string().min(1),
  relist: duration("5m", 10 * SECOND, 7 * DAY),
  statusInterval: duration("1s", 100, HOUR),
  signingKey: z.string().min(1).describe("PEM file of the Ed25519 signing key; created when missing"),
  replicas: z.coerce.number().int().min(1).max(5).default(1),
  rescan: duration("5s", 100, DAY),
  minReporters: z.coerce.number().int().min(1).max(100).default(1),
  /** Seconds: the longest ban the arbiter grants and `bans add`/`import` may ask for. */
  maxBan: duration("30d", MINUTE, 3650 * DAY).transform((ms) => Math.floor(ms / 1000)),
  minPrefix4: z.coerce.number().int().min(1).max(32).default(16),
  minPrefix6: z.coerce.number().int().min(1).max(128).default(48),
  protect: z.array(z.string().refine(isCidr, "must be an address or CIDR")).default([]),
  listen: Listen.default("0.0.0.0:8080"),
  logLevel: LogLevel,
}).refine((c) => c.leaseRetry < c.leaseDuration, { path: ["leaseRetry"], message: "must be shorter than --lease-duration" });
export type ControllerConfig = z.infer<typeof ControllerConfig>;

export const AgentConfig = z.object({
  nats: Servers,
  ...NatsFiles,
  hostId: HostId,
  labels: z.string().default("").transform((s, ctx) => {
    try {
      return parseLabelList(s);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
      return z.NEVER;
    }
  }),
  stateDir: z.string().min(1),
  controllerKey: z.string().optional().describe("PEM file of the controller's public key"),
  sshPort: z.array(z.coerce.number().int().min(1).max(65535)).default([22]),
  sshSource: z.array(z.string().refine(isCidr, "must be an address or CIDR")).default([]),
  dhcp: z.boolean().default(true),
  heartbeat: duration("10s", 100, 10 * MINUTE),
  driftInterval: duration("10s", 100, HOUR),
  confirmWindow: duration("20s", SECOND, 10 * MINUTE),
  natsFailsafe: z.boolean().default(true),
  nft: z.string().default("nft"),
  listen: Listen.default("127.0.0.1:9475"),
  logLevel: LogLevel,
});
export type AgentConfig = z.infer<typeof AgentConfig>;

/** Parses raw options into one frozen config object, or throws a ConfigError naming each flag. */
export function parseConfig<S extends z.ZodType>(schema: S, raw: unknown): Readonly<z.infer<S>> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    throw new ConfigError(r.error.issues.map((i) => `--${i.path.map(String).map(kebab).join(".")}: ${i.message}`).join("\n"));
  }
  return Object.freeze(r.data);
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export function readPem(path: string): string {
  return readFileSync(path, "utf8");
}

export function splitSources(list: readonly string[]): { ip: string[]; ip6: string[] } {
  const parsed = list.map(parseCidr);
  return { ip: parsed.filter((c) => c.family === "ip").map((c) => c.text), ip6: parsed.filter((c) => c.family === "ip6").map((c) => c.text) };
}

/** A file flag's problem: missing, not a file, or unreadable; undefined when it can be read. */
async function fileProblem(flag: string, path: string): Promise<string | undefined> {
  try {
    if (!(await stat(path)).isFile()) return `${flag}: ${path} is not a file`;
    await access(path, constants.R_OK);
    return undefined;
  } catch (error) {
    return `${flag}: ${path}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : "cannot be read"}`;
  }
}

/** What a PEM file's key is, or why it is none: refuses anything but the Ed25519 key fleetwall signs with. */
async function keyProblem(flag: string, path: string, kind: "private" | "public"): Promise<string | undefined> {
  const missing = await fileProblem(flag, path);
  if (missing) return missing;
  try {
    const pem = await readFile(path, "utf8");
    // createPublicKey derives the public key from a private one: say so rather than accept a secret where it does not belong
    if (kind === "public" && /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) return `${flag}: ${path} is a private key: give the public one (.pub)`;
    const key = kind === "private" ? createPrivateKey(pem) : createPublicKey(pem);
    if (key.asymmetricKeyType !== "ed25519") return `${flag}: ${path} is a ${key.asymmetricKeyType} key, not Ed25519`;
    return undefined;
  } catch {
    return `${flag}: ${path} is not a PEM ${kind} key`;
  }
}

async function natsFileProblems(cfg: { natsNkey?: string | undefined; natsCreds?: string | undefined; natsCa?: string | undefined; natsCert?: string | undefined; natsKey?: string | undefined }): Promise<string[]> {
  const files: [string, string | undefined][] = [["--nats-nkey", cfg.natsNkey], ["--nats-creds", cfg.natsCreds], ["--nats-ca", cfg.natsCa], ["--nats-cert", cfg.natsCert], ["--nats-key", cfg.natsKey]];
  const problems = await Promise.all(files.map(([flag, path]) => (path ? fileProblem(flag, path) : undefined)));
  return problems.filter((p): p is string => p !== undefined);
}

/** The policy directory exists, and every manifest in it parses (the controller would refuse the ones that do not). */
async function sourceDirProblems(dir: string): Promise<string[]> {
  try {
    if (!(await stat(dir)).isDirectory()) return [`--source: ${dir} is not a directory`];
    await readdir(dir);
  } catch (error) {
    return [`--source: ${dir}: ${(error as NodeJS.ErrnoException).code === "ENOENT" ? "no such directory" : "cannot be read"}`];
  }
  const { readManifestDir } = await import("@fleetwall/controller");
  const set = await readManifestDir(dir);
  return set.errors.map((e) => `--source: ${e.file}: ${e.kind || "document"} ${e.name}: ${e.errors.join("; ")}`.replace(/  +/g, " "));
}

/**
 * What `--check-config` checks beyond the flags' syntax, for the controller: the policy directory
 * and its manifests, the kubeconfig, the signing key (it may be missing: it is created on first start,
 * but a file that is there must be an Ed25519 private key) and the NATS files. Each problem names its flag.
 */
export async function checkControllerConfig(cfg: ControllerConfig): Promise<string[]> {
  const problems = await natsFileProblems(cfg);
  if (cfg.source.kind === "dir") problems.push(...(await sourceDirProblems(cfg.source.path)));
  if (cfg.kubeconfig) problems.push(...[await fileProblem("--kubeconfig", cfg.kubeconfig)].filter((p): p is string => !!p));
  const keyThere = await stat(cfg.signingKey).then(() => true, () => false);
  if (keyThere) problems.push(...[await keyProblem("--signing-key", cfg.signingKey, "private")].filter((p): p is string => !!p));
  return problems;
}

/** The same for the agent: the controller's public key, the state directory, the nft binary and the NATS files. */
export async function checkAgentConfig(cfg: AgentConfig): Promise<string[]> {
  const problems = await natsFileProblems(cfg);
  if (cfg.controllerKey) problems.push(...[await keyProblem("--controller-key", cfg.controllerKey, "public")].filter((p): p is string => !!p));
  const state = await stat(cfg.stateDir).catch(() => undefined);
  if (state && !state.isDirectory()) problems.push(`--state-dir: ${cfg.stateDir} is not a directory`);
  if (!(await findExecutable(cfg.nft))) problems.push(`--nft: ${cfg.nft} is not an executable${cfg.nft.includes("/") ? "" : " on PATH"}`);
  return problems;
}

async function findExecutable(name: string): Promise<boolean> {
  const candidates = name.includes("/") ? [name] : (process.env.PATH ?? "").split(delimiter).filter(Boolean).map((d) => join(d, name));
  for (const path of candidates) {
    if (await access(path, constants.X_OK).then(() => true, () => false)) return true;
  }
  return false;
}
