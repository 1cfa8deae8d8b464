import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { startNats, type NatsServer } from "./nats.js";

/**
 * A nats-server with JetStream on loopback for the tests of one `describe`: started before them,
 * stopped after them, its logs and store removed. `config` adds server configuration (authorization).
 * Hooks the caller registers after this one run their `afterAll` first, while the server is still up.
 */
export function loopbackNats(name: string, config?: string): { readonly server: NatsServer } {
  const holder = {} as { server: NatsServer };
  // made when the tests run, not when they are collected: a describe that is skipped leaves nothing
  let dir: string | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), `fleetwall-${name}-`));
    holder.server = await startNats({ host: "127.0.0.1", logDir: dir, ...(config ? { config } : {}) });
  });
  afterAll(async () => {
    await holder.server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (holder.server) rmSync(holder.server.storeDir, { recursive: true, force: true });
  });
  return holder;
}
