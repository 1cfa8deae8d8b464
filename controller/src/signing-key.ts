import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { generateSigningKeyPem, loadSigningKey, type SigningKey } from "@fleetwall/api";
import type { Logger } from "pino";

/** Writes a new signing key pair into `dir` (for a Kubernetes Secret); never overwrites a private key. */
export async function writeSigningKey(dir: string): Promise<string[]> {
  const { privatePem, publicPem } = generateSigningKeyPem();
  await mkdir(dir, { recursive: true });
  const path = join(dir, "signing-key.pem");
  await writeFile(path, privatePem, { mode: 0o600, flag: "wx" });
  await writeFile(`${path}.pub`, publicPem, { mode: 0o644 });
  return [path, `${path}.pub`];
}

/** Loads the Ed25519 signing key, creating it (and `<file>.pub`) on first start. */
export async function loadOrCreateKey(path: string, log: Logger): Promise<SigningKey> {
  if (!existsSync(path)) {
    const { privatePem, publicPem } = generateSigningKeyPem();
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, privatePem, { mode: 0o600, flag: "wx" });
    await writeFile(`${path}.pub`, publicPem, { mode: 0o644 });
    log.warn({ path }, "signing key created; give agents its .pub file with --controller-key");
  }
  return loadSigningKey(await readFile(path, "utf8"));
}
