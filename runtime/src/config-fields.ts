import { z } from "zod";

/**
 * The zod pieces both processes' configurations are made of (`controller/src/config.ts`,
 * `agent/src/config.ts`). Flags arrive as strings; each field turns them into what the code uses.
 */

/** Duration flags: `500ms`, `10s`, `5m`, `1h`, or plain milliseconds; parsed to milliseconds. */
export const FlagDuration = z
  .union([z.number(), z.string()])
  .transform((v, ctx) => {
    if (typeof v === "number") return v;
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
    if (!m) {
      ctx.addIssue({ code: "custom", message: `"${v}" is not a duration like 500ms, 10s, 5m, 1h` });
      return z.NEVER;
    }
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "ms"] as number;
    return Math.round(Number(m[1]) * unit);
  });

/** `--nats`: comma-separated server URLs. */
export const NatsServers = z
  .string()
  .min(1, "at least one NATS URL is needed")
  .transform((s) => s.split(",").map((u) => u.trim()).filter(Boolean));

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

export const LogLevel = z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info");
