import { readFileSync } from "node:fs";
import { HostId, isCidr, parseCidr, parseDuration, parseLabelList } from "@fleetwall/api";
import { z } from "zod";

/** Duration flags: `500ms`, `10s`, `5m`, `1h`, or plain milliseconds. */
export const Duration = z
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

const Servers = z
  .string()
  .min(1, "at least one NATS URL is needed")
  .transform((s) => s.split(",").map((u) => u.trim()).filter(Boolean));

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
  leaseDuration: Duration.default(15_000),
  leaseRetry: Duration.default(2_000),
  identity: z.string().min(1),
  relist: Duration.default(300_000),
  statusInterval: Duration.default(1_000),
  signingKey: z.string().min(1).describe("PEM file of the Ed25519 signing key; created when missing"),
  replicas: z.coerce.number().int().min(1).max(5).default(1),
  rescan: Duration.default(5000),
  minReporters: z.coerce.number().int().min(1).max(100).default(1),
  maxBan: z.string().default("30d").refine((d) => (parseDuration(d) ?? 0) > 0, "must be a duration like 30d").transform((d) => parseDuration(d) as number),
  minPrefix4: z.coerce.number().int().min(1).max(32).default(16),
  minPrefix6: z.coerce.number().int().min(1).max(128).default(48),
  protect: z.array(z.string().refine(isCidr, "must be an address or CIDR")).default([]),
  listen: Listen.default("0.0.0.0:8080"),
  logLevel: LogLevel,
});
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
  heartbeat: Duration.default(10_000),
  driftInterval: Duration.default(10_000),
  confirmWindow: Duration.default(20_000),
  natsFailsafe: z.boolean().default(true),
  nft: z.string().default("nft"),
  listen: Listen.default("127.0.0.1:9475"),
  /** Print what would be applied; enforce, register, report and signal nothing. */
  dryRun: z.boolean().default(false),
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
