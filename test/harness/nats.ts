import { createServer } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type ConnectionOptions } from "@nats-io/transport-node";
import { startProc, type Proc } from "./procs.js";
import { waitFor } from "./sh.js";

export interface NatsServer {
  url: string;
  host: string;
  port: number;
  proc: Proc;
  storeDir: string;
  stop(): Promise<void>;
  /** Starts the server again on the same port and store (after stop). */
  restart(): Promise<void>;
}

/** A free TCP port on `host`, as the kernel hands it out. */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

/** Starts Debian's `nats-server` with JetStream on `host` and a free port, waiting until it serves. */
export async function startNats(options: { host: string; logDir: string; name?: string; config?: string; scheme?: string; port?: number }): Promise<NatsServer> {
  const port = options.port ?? (await freePort(options.host));
  const storeDir = mkdtempSync(join(tmpdir(), "fleetwall-nats-"));
  const url = `${options.scheme ?? "nats"}://${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}`;
  const argv = ["nats-server", "-js", "-a", options.host, "-p", String(port), "-sd", storeDir];
  if (options.config) {
    // extra configuration (authorization, TLS); the flags above still set address, port and store
    writeFileSync(join(storeDir, "extra.conf"), options.config);
    argv.push("-c", join(storeDir, "extra.conf"));
  }
  // a server with authorization or TLS refuses the readiness probe's plain connection: it is ready
  // when it says so
  const readyCount = () => (server.proc.log().match(/Server is ready/g) ?? []).length;
  let started = 0;
  const ready = options.config ? () => waitFor("nats-server ready", () => readyCount() > started, 10_000, 50) : readyByConnect;
  const server: NatsServer = {
    url,
    host: options.host,
    port,
    storeDir,
    proc: startProc(options.name ?? "nats", argv, options.logDir),
    async stop() {
      await server.proc.stop();
    },
    async restart() {
      started = readyCount();
      server.proc = startProc(options.name ?? "nats", argv, options.logDir);
      await ready(url);
    },
  };
  try {
    await ready(url);
  } catch (e) {
    await server.proc.kill();
    rmSync(storeDir, { recursive: true, force: true });
    throw e;
  }
  return server;
}

async function readyByConnect(url: string): Promise<void> {
  await waitFor(`nats-server at ${url}`, async () => {
    const nc = await connect({ servers: url, reconnect: false, timeout: 500 });
    await nc.close();
    return true;
  }, 10_000, 100);
}

/**
 * Starts `size` nats-servers on `host` as one JetStream cluster (routes between all of them), and
 * waits until JetStream has a meta leader. Each server can be stopped and restarted on its own.
 */
export async function startNatsCluster(options: { host: string; logDir: string; size: number; config?: string; connect?: Partial<ConnectionOptions> }): Promise<NatsServer[]> {
  // the harness's own checks: with `config`'s authorization, as one of its users (`connect`)
  const dial = (servers: string | string[]) => connect({ servers, reconnect: false, timeout: 1000, ...options.connect });
  const ports = [];
  for (let i = 0; i < options.size; i += 1) ports.push({ client: await freePort(options.host), route: await freePort(options.host) });
  const servers: NatsServer[] = [];
  try {
    for (const [i, p] of ports.entries()) {
      const routes = ports.filter((_, j) => j !== i).map((q) => `nats-route://${options.host}:${q.route}`);
      const config = `server_name: n${i + 1}\ncluster {\n  name: fleetwall-test\n  listen: ${options.host}:${p.route}\n  routes: [${routes.join(", ")}]\n}\n${options.config ?? ""}`;
      servers.push(await startNats({ host: options.host, logDir: options.logDir, name: `nats-${i + 1}`, config, port: p.client }));
    }
    // a full mesh: NATS does not forward between routes, so every pair must be connected
    await waitFor("routes between every pair of servers", async () => {
      for (const a of servers) {
        for (const b of servers) {
          if (a === b) continue;
          const [na, nb] = [await dial(a.url), await dial(b.url)];
          try {
            const subject = `fleetwall.mesh.${a.port}.${b.port}`;
            let got = false;
            na.subscribe(subject, { callback: () => void (got = true) });
            await na.flush();
            // interest travels over the route asynchronously: publish a few times
            for (let i = 0; i < 10 && !got; i += 1) {
              nb.publish(subject);
              await nb.flush();
              await new Promise((r) => setTimeout(r, 50));
            }
            if (!got) return false;
          } finally {
            await na.close();
            await nb.close();
          }
        }
      }
      return true;
    }, 30_000, 250);
    await waitFor("a JetStream meta leader", async () => {
      const nc = await dial(servers.map((s) => s.url));
      try {
        const r = await nc.request("$JS.API.INFO", "", { timeout: 1000 });
        return !(r.json<{ error?: unknown }>().error);
      } finally {
        await nc.close();
      }
    }, 30_000, 250);
    return servers;
  } catch (e) {
    for (const s of servers) {
      await s.proc.kill();
      rmSync(s.storeDir, { recursive: true, force: true });
    }
    throw e;
  }
}
