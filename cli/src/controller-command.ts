import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { generateSigningKeyPem, loadSigningKey, type SigningKey } from "@fleetwall/api";
import { Controller, ControllerBus, DirSource } from "@fleetwall/controller";
import type { Logger } from "pino";
import type { ControllerConfig } from "./config.js";

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

export async function runController(cfg: ControllerConfig, log: Logger, signal: AbortSignal): Promise<void> {
  const key = await loadOrCreateKey(cfg.signingKey, log);
  const bus = await ControllerBus.connect({
    servers: cfg.nats,
    name: "fleetwall-controller",
    replicas: cfg.replicas,
    log,
    onInvalid: (kind, reason) => log.warn({ kind, reason }, "invalid message dropped"),
  });
  const published = await bus.loadPublished();
  const controller = new Controller(bus, key, log, published);
  bus.subscribeReports((r) => controller.recordReport(r));
  bus.serveStatus(() => controller.status());
  const source = new DirSource({
    dir: cfg.source.path,
    rescanMs: cfg.rescan,
    debounceMs: 50,
    onChange: (set) => {
      log.info({ policies: set.policies.length, invalid: set.errors.length }, "policies loaded");
      controller.setPolicies(set);
    },
    onError: (error) => log.error({ err: error }, "policy directory unreadable"),
  });
  await source.start();
  const hosts = bus.watchHosts((id, reg) => controller.setHost(id, reg), signal);
  log.info({ keyId: key.keyId, source: cfg.source.path }, "controller started");
  try {
    await Promise.all([controller.run(signal), hosts]);
  } finally {
    source.stop();
    await bus.close();
  }
}
