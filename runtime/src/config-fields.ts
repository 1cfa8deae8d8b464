import { boundedDurationMs } from "@fleetwall/api";
import { z } from "zod";

/**
 * The zod pieces both processes' configurations are made of (`controller/src/config.ts`,
 * `agent/src/config.ts`). Flags arrive as strings; each field turns them into what the code uses.
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Bounds of duration flags, in milliseconds. */
export const DURATION = { SECOND, MINUTE, HOUR, DAY } as const;

/**
 * A duration flag in the one grammar of every flag and field (api/src/duration.ts: `500ms`, `30s`,
 * `1h30m`, `7d`; a unit is required), within bounds; parsed to milliseconds.
 */
export const flagDuration = (defaultText: string, minMs: number, maxMs: number) => boundedDurationMs(minMs, maxMs).prefault(defaultText);

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

/** `--nats`: comma-separated server URLs, each checked. */
export const NatsServers = z
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

/** Credentials and TLS files for NATS (see nats-connection.ts). */
export const NatsFiles = {
  natsNkey: z.string().min(1).optional(),
  natsCreds: z.string().min(1).optional(),
  natsCa: z.string().min(1).optional(),
  natsCert: z.string().min(1).optional(),
  natsKey: z.string().min(1).optional(),
  natsTlsName: z.string().min(1).optional(),
};

/** `--listen`: where /metrics, /healthz and /readyz are served. */
export const Listen = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:]*):\d{1,5}$/, "must be HOST:PORT, e.g. 127.0.0.1:9475 or :8080");

/**
 * `--probe-listen`: a listener of its own for /healthz and /readyz (runtime/src/probe-listener.ts),
 * which a flood of --listen cannot starve. Off unless given.
 */
export const ProbeListen = Listen.optional();

const WILDCARD = new Set(["", "0.0.0.0", "[::]"]);

/** Whether two HOST:PORT listeners would take the same port (one host each, or a wildcard and any). */
export function listenersClash(a: string, b: string): boolean {
  const split = (l: string) => [l.slice(0, l.lastIndexOf(":")), Number(l.slice(l.lastIndexOf(":") + 1))] as const;
  const [ha, pa] = split(a);
  const [hb, pb] = split(b);
  return pa === pb && pa !== 0 && (ha === hb || WILDCARD.has(ha) || WILDCARD.has(hb));
}

/** The refinement both processes' configurations make: --probe-listen is not --listen's port. */
export const probeListenApart = (c: { listen: string; probeListen?: string | undefined }): boolean => !c.probeListen || !listenersClash(c.listen, c.probeListen);
export const PROBE_LISTEN_CLASH = { path: ["probeListen"], message: "must not take --listen's port: the probes need a listener of their own" };

export const LogLevel = z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info");
