import { HostId, hostIdFromNodeName, isCidr, parseCidr, parseLabelList } from "@fleetwall/api";
import { DURATION, Listen, LogLevel, NatsFiles, NatsServers, ProbeListen, flagDuration, probeListenApart, PROBE_LISTEN_CLASH } from "@fleetwall/runtime/config";
import { z } from "zod";

/**
 * `--host-id-from-node NAME` (the chart passes the Kubernetes node name) stands for `--host-id` when
 * that is absent: `ip-10-0-0-1.ec2.internal` becomes `ip-10-0-0-1-ec2-internal`.
 */
function hostIdFromNode(input: unknown): unknown {
  if (typeof input !== "object" || input === null) return input;
  const { hostIdFromNode: node, ...rest } = input as Record<string, unknown>;
  if (rest.hostId !== undefined || typeof node !== "string") return rest;
  return { ...rest, hostId: hostIdFromNodeName(node) ?? node };
}

const { SECOND, MINUTE, HOUR } = DURATION;

/**
 * `{host}` in --nats-nkey and --nats-creds stands for the host id: the chart's agents find
 * `agent-{host}.nk`, the file `fleetwall nats-auth --host ID` writes, where the node name
 * (`a.b.c`, whose id is `a-b-c`) would name a file that is not there.
 */
function seedFilesOfHost<C extends { hostId: string; natsNkey?: string | undefined; natsCreds?: string | undefined }>(c: C): C {
  const of = (path: string | undefined) => path?.replaceAll("{host}", c.hostId);
  return { ...c, ...(c.natsNkey ? { natsNkey: of(c.natsNkey) } : {}), ...(c.natsCreds ? { natsCreds: of(c.natsCreds) } : {}) };
}

/** The agent's configuration: `fleetwall agent`'s flags, parsed once and frozen by the CLI. */
export const AgentConfig = z.preprocess(hostIdFromNode, z.object({
  nats: NatsServers,
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
  heartbeat: flagDuration("10s", 100, 10 * MINUTE),
  driftInterval: flagDuration("10s", 100, HOUR),
  confirmWindow: flagDuration("20s", SECOND, 10 * MINUTE),
  natsFailsafe: z.boolean().default(true),
  trustFirstKey: z.boolean().default(false),
  nft: z.string().default("nft"),
  listen: Listen.default("127.0.0.1:9475"),
  probeListen: ProbeListen,
  /** Print what would be applied; enforce, register, report and signal nothing. */
  dryRun: z.boolean().default(false),
  logLevel: LogLevel,
}).refine(probeListenApart, PROBE_LISTEN_CLASH).transform(seedFilesOfHost));
export type AgentConfig = z.infer<typeof AgentConfig>;

/** Failsafe SSH sources split by family, as the renderer takes them. */
export function splitSources(list: readonly string[]): { ip: string[]; ip6: string[] } {
  const parsed = list.map(parseCidr);
  return { ip: parsed.filter((c) => c.family === "ip").map((c) => c.text), ip6: parsed.filter((c) => c.family === "ip6").map((c) => c.text) };
}
