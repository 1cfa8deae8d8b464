import { createServer, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { connectionSource } from "./connection-source.js";
import { parseListen } from "./listen-address.js";

export type Probe = () => boolean;

/**
 * Bounds of the probe listener (`--probe-listen`), which serves /healthz and /readyz only. It is
 * apart from --listen so that a flood of the main listener (many sources holding its 256
 * connections) cannot fail the kubelet's liveness probe and get the pod restarted. A kubelet probe
 * is one short request on a new connection: the timeouts are short and every answer closes it.
 */
export const PROBE_LIMITS = {
  /** Connections held at once; past it, a new one makes room by closing another (see `evictionIndex`). */
  maxConnections: 32,
  /** A request's headers, and the whole request, must arrive within this; an idle connection is closed after it. */
  requestTimeoutMs: 2_000,
  /** How often connections are checked against the timeouts. */
  checkEveryMs: 500,
} as const;

/**
 * Which held connection (by index, oldest first) a new one replaces when the probe listener is
 * full: the oldest of the source (`connectionSource`: an IPv6 /64 is one) that holds the most. Pure. A new connection is always taken, so
 * one that is alone from its source (the kubelet's) is closed only when every held connection is
 * alone from its source and it is the oldest: a flood must open more than the cap in the time a
 * probe takes (milliseconds), rather than hold the cap until the timeouts, as refusing new ones
 * allowed.
 */
export function evictionIndex(sources: readonly string[]): number {
  const count = new Map<string, number>();
  for (const s of sources) count.set(s, (count.get(s) ?? 0) + 1);
  let best = -1;
  let bestCount = 0;
  sources.forEach((s, i) => {
    const n = count.get(s) ?? 0;
    if (n > bestCount) {
      best = i;
      bestCount = n;
    }
  });
  return best;
}

/** The answer to a probe path, or undefined for any other path: /healthz (the event loop answers), /readyz (the process does its job). */
export function answerProbe(path: string, ready: Probe, res: ServerResponse, close = false): boolean {
  const headers = { "content-type": "text/plain", ...(close ? { connection: "close" } : {}) };
  if (path === "/healthz") {
    res.writeHead(200, headers).end("ok\n");
    return true;
  }
  if (path === "/readyz") {
    const ok = ready();
    res.writeHead(ok ? 200 : 503, headers).end(ok ? "ready\n" : "not ready\n");
    return true;
  }
  return false;
}

/** Keeps at most `max` connections: a new one past it closes the one `evictionIndex` picks. */
function evictPastCap(server: Server, max: number): void {
  const held: { source: string; socket: Socket }[] = [];
  server.on("connection", (socket: Socket) => {
    const entry = { source: connectionSource(socket.remoteAddress), socket };
    held.push(entry);
    socket.once("close", () => {
      const i = held.indexOf(entry);
      if (i >= 0) held.splice(i, 1);
    });
    if (held.length > max) {
      const [victim] = held.splice(evictionIndex(held.map((h) => h.source)), 1);
      victim?.socket.destroy();
    }
  });
}

/**
 * The probe listener: GET /healthz and /readyz (the same answers as on --listen), 404 for anything
 * else, at most PROBE_LIMITS.maxConnections connections, each closed after its answer.
 */
export function serveProbes(listen: string, ready: Probe): Promise<Server> {
  const { host, port } = parseListen(listen);
  const t = PROBE_LIMITS.requestTimeoutMs;
  const server = createServer({ headersTimeout: t, requestTimeout: t, keepAliveTimeout: 1, connectionsCheckingInterval: PROBE_LIMITS.checkEveryMs }, (req, res) => {
    if (!answerProbe((req.url ?? "/").split("?")[0] ?? "/", ready, res, true)) res.writeHead(404, { connection: "close" }).end();
  });
  evictPastCap(server, PROBE_LIMITS.maxConnections);
  // an idle socket (connected, nothing sent) is destroyed after this (no 'timeout' listener)
  server.timeout = t;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}
