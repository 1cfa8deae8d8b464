import { createServer, type Server } from "node:http";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { connectionSource } from "./connection-source.js";
import { parseListen } from "./listen-address.js";
import { answerProbe, type Probe } from "./probe-listener.js";

/**
 * Bounds of the HTTP side, which anyone who reaches --listen may connect to: at most this many
 * connections at once (more are closed as they come), and none kept longer than it takes to send a
 * request. Without them a flood of idle connections held every file descriptor until the process
 * died of EMFILE.
 */
export const HTTP_LIMITS = {
  maxConnections: 256,
  /** Connections one source (an address; for IPv6 its /64) may hold at once: one client alone cannot take the probes' place. */
  perSource: 16,
  /** A request's headers, and the whole request, must arrive within this. */
  requestTimeoutMs: 10_000,
  /** A connection with nothing to send is closed after this. */
  idleTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  /** How often connections are checked against the timeouts (Node's default is 30 s). */
  checkEveryMs: 1_000,
} as const;

/**
 * The HTTP side of a fleetwall process: /metrics (Prometheus), /healthz (the event loop answers) and
 * /readyz (the process does its job: for the controller, NATS connected and sources loaded; for the
 * agent, NATS connected and a ruleset in force). The probes are also on --probe-listen when given
 * (probe-listener.ts), where a flood of this listener cannot starve them.
 */
export function serveObservability(listen: string, registry: Registry, ready: Probe): Promise<Server> {
  const { host, port } = parseListen(listen);
  const server = createServer({ headersTimeout: HTTP_LIMITS.requestTimeoutMs, requestTimeout: HTTP_LIMITS.requestTimeoutMs, keepAliveTimeout: HTTP_LIMITS.keepAliveTimeoutMs, connectionsCheckingInterval: HTTP_LIMITS.checkEveryMs }, (req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (answerProbe(path, ready, res)) return;
    if (path === "/metrics") {
      registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else {
      res.writeHead(404).end();
    }
  });
  server.maxConnections = HTTP_LIMITS.maxConnections;
  capPerSource(server, HTTP_LIMITS.perSource);
  // an idle socket (nothing sent, or a kept-alive one) is destroyed after this (no 'timeout' listener)
  server.timeout = HTTP_LIMITS.idleTimeoutMs;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}

/** Closes a new connection from an address that already holds `max` (the rest of the cap stays for others). */
function capPerSource(server: Server, max: number): void {
  const held = new Map<string, number>();
  server.on("connection", (socket) => {
    const from = connectionSource(socket.remoteAddress);
    const n = (held.get(from) ?? 0) + 1;
    if (n > max) {
      socket.destroy();
      return;
    }
    held.set(from, n);
    socket.once("close", () => {
      const left = (held.get(from) ?? 1) - 1;
      if (left > 0) held.set(from, left);
      else held.delete(from);
    });
  });
}

/**
 * How often the event loop's delay is sampled for `fleetwall_process_nodejs_eventloop_lag_*`. The
 * library's default, 10 ms, is a timer firing 100 times a second: 0.77 % of a core here, nearly all
 * of an idle agent's CPU. At 100 ms it is 0.08 %, and a stall of the loop still shows in the maximum.
 */
const EVENT_LOOP_SAMPLE_MS = 100;

export function newRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "fleetwall_process_", eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  return registry;
}

/** A latency histogram in seconds; returns the function that records one observation in milliseconds. */
export function latencyOf(registry: Registry, name: string, help: string, buckets: number[]): (ms: number) => void {
  const h = new Histogram({ name, help, buckets, registers: [registry] });
  return (ms) => h.observe(ms / 1000);
}

/** A gauge whose value is read when Prometheus scrapes. */
export function gaugeOf(registry: Registry, name: string, help: string, read: () => number | Record<string, number>, labelName?: string): Gauge {
  return new Gauge({
    name,
    help,
    registers: [registry],
    ...(labelName ? { labelNames: [labelName] } : {}),
    collect() {
      const v = read();
      if (typeof v === "number") this.set(v);
      else for (const [k, n] of Object.entries(v)) this.set({ [labelName as string]: k }, n);
    },
  });
}

/** A counter whose value mirrors a monotonically growing number kept elsewhere. */
export function counterOf(registry: Registry, name: string, help: string, read: () => number): Counter {
  let last = 0;
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const now = read();
      if (now > last) this.inc(now - last);
      last = Math.max(last, now);
    },
  });
}
