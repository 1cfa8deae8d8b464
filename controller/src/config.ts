import { isCidr, parseDuration } from "@fleetwall/api";
import { FlagDuration, Listen, LogLevel, NatsFiles, NatsServers } from "@fleetwall/runtime/config";
import { z } from "zod";

/** A duration in seconds, in the grammar of policies (`90s`, `10m`, `30d`). */
const Seconds = (fallback: string) =>
  z.string().default(fallback).refine((d) => (parseDuration(d) ?? 0) > 0, "must be a duration like 90s, 1h, 30d").transform((d) => parseDuration(d) as number);

/** The controller's configuration: `fleetwall controller`'s flags, parsed once and frozen by the CLI. */
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
  leaseDuration: FlagDuration.default(15_000),
  leaseRetry: FlagDuration.default(2_000),
  identity: z.string().min(1),
  relist: FlagDuration.default(300_000),
  statusInterval: FlagDuration.default(1_000),
  signingKey: z.string().min(1).describe("PEM file of the Ed25519 signing key; created when missing"),
  replicas: z.coerce.number().int().min(1).max(5).default(1),
  rescan: FlagDuration.default(5000),
  minReporters: z.coerce.number().int().min(1).max(100).default(2),
  maxBan: Seconds("30d"),
  reporterMaxBan: Seconds("1h"),
  reporterBudget: z.coerce.number().int().min(0).max(10_000).default(10),
  reportWindow: Seconds("10m"),
  minPrefix4: z.coerce.number().int().min(1).max(32).default(16),
  minPrefix6: z.coerce.number().int().min(1).max(128).default(48),
  protect: z.array(z.string().refine(isCidr, "must be an address or CIDR")).default([]),
  listen: Listen.default("0.0.0.0:8080"),
  logLevel: LogLevel,
});
export type ControllerConfig = z.infer<typeof ControllerConfig>;
