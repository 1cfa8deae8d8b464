import { isCidr } from "@fleetwall/api";
import { DURATION, Listen, LogLevel, NatsFiles, NatsServers, ProbeListen, flagDuration, probeListenApart, PROBE_LISTEN_CLASH } from "@fleetwall/runtime/config";
import { z } from "zod";

/** A duration flag in whole seconds (the one grammar, with bounds). */
const seconds = (fallback: string, minMs: number, maxMs: number) => flagDuration(fallback, minMs, maxMs).transform((ms) => Math.floor(ms / 1000));

/** The controller's configuration: `fleetwall controller`'s flags, parsed once and frozen by the CLI. */
const { SECOND, MINUTE, HOUR, DAY } = DURATION;

export const ControllerConfig = z.object({
  nats: NatsServers,
  ...NatsFiles,
  source: z
    .string()
    .regex(/^(dir:.+|kube)$/, "must be dir:PATH or kube")
    .transform((s) => (s === "kube" ? { kind: "kube" as const, path: "" } : { kind: "dir" as const, path: s.slice(4) })),
  kubeconfig: z.string().min(1).optional(),
  leaseNamespace: z.string().min(1).default("fleetwall"),
  leaseName: z.string().min(1).default("fleetwall-controller"),
  leaseDuration: flagDuration("15s", SECOND, 5 * MINUTE),
  leaseRetry: flagDuration("2s", 100, MINUTE),
  identity: z.string().min(1),
  relist: flagDuration("5m", 10 * SECOND, 7 * DAY),
  statusInterval: flagDuration("1s", 100, HOUR),
  signingKey: z.string().min(1).describe("PEM file of the Ed25519 signing key; created when missing"),
  replicas: z.coerce.number().int().min(1).max(5).default(1),
  rescan: flagDuration("5s", 100, DAY),
  minReporters: z.coerce.number().int().min(1).max(100).default(2),
  /** Seconds: the longest ban the arbiter grants and `bans add`/`import` may ask for. */
  maxBan: seconds("30d", MINUTE, 3650 * DAY),
  reporterMaxBan: seconds("1h", MINUTE, 3650 * DAY),
  reporterBudget: z.coerce.number().int().min(0).max(10_000).default(10),
  reportWindow: seconds("10m", 10 * SECOND, 7 * DAY),
  minPrefix4: z.coerce.number().int().min(1).max(32).default(16),
  minPrefix6: z.coerce.number().int().min(1).max(128).default(48),
  protect: z.array(z.string().refine(isCidr, "must be an address or CIDR")).default([]),
  /** Networks fleet hosts' own addresses are in (comma-separated and repeatable); empty: the default networks (host-networks.ts). */
  hostNetworks: z
    .array(z.string())
    .default([])
    .transform((list) => list.flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean))
    .pipe(z.array(z.string().refine(isCidr, "must be a network (CIDR) or address"))),
  listen: Listen.default("0.0.0.0:8080"),
  probeListen: ProbeListen,
  logLevel: LogLevel,
}).refine(probeListenApart, PROBE_LISTEN_CLASH).refine((c) => c.leaseRetry < c.leaseDuration, { path: ["leaseRetry"], message: "must be shorter than --lease-duration" });
export type ControllerConfig = z.infer<typeof ControllerConfig>;
