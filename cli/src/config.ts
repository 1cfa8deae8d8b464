import { constants } from "node:fs";
import { access, readdir, readFile, stat } from "node:fs/promises";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { delimiter, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "./config-error.js";
import type { z } from "zod";
import type { AgentConfig } from "@fleetwall/agent/config";
import type { ControllerConfig } from "@fleetwall/controller/config";

// The schemas live with the process they configure; the CLI parses flags into them and hands the
// frozen result to the process's entry point (controller/src/main.ts, agent/src/main.ts).
export { ControllerConfig } from "@fleetwall/controller/config";
export { ConfigError } from "./config-error.js";
export { AgentConfig, splitSources } from "@fleetwall/agent/config";

/** Parses raw options into one frozen config object, or throws a ConfigError naming each flag. */
export function parseConfig<S extends z.ZodType>(schema: S, raw: unknown): Readonly<z.infer<S>> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    throw new ConfigError(r.error.issues.map((i) => `--${i.path.map(String).map(kebab).join(".")}: ${i.message}`).join("\n"));
  }
  return Object.freeze(r.data);
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
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

/** A kubeconfig that can be read, is YAML, and names at least one cluster and a current context. */
async function kubeconfigProblem(path: string): Promise<string | undefined> {
  const missing = await fileProblem("--kubeconfig", path);
  if (missing) return missing;
  let doc: { clusters?: unknown; "current-context"?: unknown } | undefined;
  try {
    doc = parseYaml(await readFile(path, "utf8")) as typeof doc;
  } catch {
    return `--kubeconfig: ${path} is not YAML`;
  }
  if (!Array.isArray(doc?.clusters) || doc.clusters.length === 0) return `--kubeconfig: ${path} names no cluster`;
  if (typeof doc["current-context"] !== "string" || !doc["current-context"]) return `--kubeconfig: ${path} has no current-context`;
  return undefined;
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
  if (cfg.kubeconfig) problems.push(...[await kubeconfigProblem(cfg.kubeconfig)].filter((p): p is string => !!p));
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

/**
 * Handles --check-config / --print-config; true when the command should stop here. --check-config
 * also runs `check` (files exist and parse), and fails with every problem it finds.
 */
export async function configOnly<C>(opts: { checkConfig?: boolean; printConfig?: boolean }, cfg: C, check: (cfg: C) => Promise<string[]>): Promise<boolean> {
  if (opts.printConfig) process.stdout.write(`${JSON.stringify(cfg, null, 2)}\n`);
  else if (opts.checkConfig) {
    const problems = await check(cfg);
    if (problems.length > 0) throw new ConfigError(problems.join("\n"));
    process.stdout.write("configuration OK\n");
  }
  return !!(opts.printConfig || opts.checkConfig);
}
