import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { Option, type Command } from "commander";
import { withNatsOptions } from "./nats-access.js";
import { collect } from "./repeatable-flag.js";

// The long-running processes' commands: this file only declares their flags. Their configuration
// schemas and entry points (controller/src/main.ts, agent/src/main.ts) are loaded when one runs.
const agentMain = () => import("@fleetwall/agent/main");

function configFlags(cmd: Command): Command {
  return cmd
    .option("--check-config", "validate the configuration and exit")
    .option("--print-config", "print the parsed configuration as JSON and exit");
}

/** `fleetwall controller`. */
export function addControllerCommand(program: Command): void {
  configFlags(
    withNatsOptions(program
      .command("controller")
      .description("compile policies into one signed desired state per host and publish it over NATS"))
      .addOption(new Option("--source <source>", "where policies come from: dir:PATH, or kube (the Kubernetes API)").env("FLEETWALL_SOURCE").makeOptionMandatory())
      .addOption(new Option("--kubeconfig <file>", "kubeconfig for --source kube (default: in-cluster, then ~/.kube/config)").env("KUBECONFIG"))
      .addOption(new Option("--lease-namespace <ns>", "namespace of the leader-election Lease").env("POD_NAMESPACE").default("fleetwall"))
      .option("--lease-name <name>", "name of the leader-election Lease", "fleetwall-controller")
      .option("--lease-duration <duration>", "how long a leader's lease holds without renewal", "15s")
      .option("--lease-retry <duration>", "how often the leader renews and a standby retries", "2s")
      .addOption(new Option("--identity <name>", "this replica's name in the Lease: unique per process (two processes with one identity would both lead)").env("POD_NAME").default(processIdentity(), "HOSTNAME-PID-RANDOM"))
      .option("--relist <duration>", "informers list everything again this often (a safety net under the watch)", "5m")
      .option("--status-interval <duration>", "how often resource statuses are compared and written", "1s")
      .addOption(new Option("--signing-key <file>", "Ed25519 private key (PEM); created with <file>.pub when missing").env("FLEETWALL_SIGNING_KEY").default("/var/lib/fleetwall/signing-key.pem"))
      .option("--replicas <n>", "JetStream replicas for buckets and streams (3 on a 3-server cluster)", "1")
      .option("--rescan <duration>", "directory rescan interval (the file watcher is the fast path)", "5s")
      .option("--min-reporters <n>", "distinct reporting hosts for a quorum: needed for prefixes, bans longer than --reporter-max-ban, and past a reporter's budget", "2")
      .option("--max-ban <duration>", "longest ban the arbiter grants (with a quorum)", "30d")
      .option("--reporter-max-ban <duration>", "longest fleet ban one reporting host can cause alone", "1h")
      .option("--reporter-budget <n>", "fleet bans one reporting host can cause alone in any 60 s (a sliding window; 0: none); past it, its detections stay local", "10")
      .option("--report-window <duration>", "how long a host's report of an address counts towards a quorum", "10m")
      .option("--min-prefix4 <bits>", "broadest IPv4 prefix a ban may cover", "16")
      .option("--min-prefix6 <bits>", "broadest IPv6 prefix a ban may cover", "48")
      .option("--protect <cidr>", "never ban this address or network (repeatable; NATS servers always are, by the addresses their names resolve to and they announce: add the others, e.g. an IPv6 address a name does not resolve to)", collect)
      .option("--host-networks <cidr,...>", "networks the fleet hosts' own addresses are in: a registered address outside them is not protected, and is reported (repeatable; default: the ranges not routed on the internet, 10/8, 172.16/12, 192.168/16, 100.64/10, 198.18/15, the documentation ranges, fc00::/7, 2001:db8::/32)", collect)
      .option("--listen <host:port>", "/metrics, /healthz and /readyz", "0.0.0.0:8080")
      .option("--probe-listen <host:port>", "a listener of its own for /healthz and /readyz only, which a flood of --listen cannot starve (point liveness probes at it; Kubernetes: the pod's address)")
      .addOption(new Option("--log-level <level>").env("FLEETWALL_LOG_LEVEL").default("info")),
  ).action(async (opts) => {
    const { parseConfig, configOnly, ControllerConfig, checkControllerConfig } = await import("./config.js");
    const cfg = parseConfig(ControllerConfig, opts);
    if (await configOnly(opts, cfg, checkControllerConfig)) return;
    const { controllerMain } = await import("@fleetwall/controller/main");
    await controllerMain(cfg);
  });
}

/** `fleetwall agent` and `fleetwall agent uninstall`. */
export function addAgentCommands(program: Command): void {
  const agentCommand = configFlags(
    withNatsOptions(program
      .command("agent")
      .description("enforce this host's desired state with nftables and report back"), false)
      .addOption(new Option("--host-id <id>", "this host's id: a DNS label, lowercase letters, digits and - (required, or --host-id-from-node)").env("FLEETWALL_HOST_ID"))
      .addOption(new Option("--host-id-from-node <name>", "without --host-id: the id from a Kubernetes node name, dots become - (the chart passes spec.nodeName); {host} in --nats-nkey and --nats-creds stands for the id").env("FLEETWALL_NODE_NAME"))
      .addOption(new Option("--labels <k=v,...>", "labels the host proposes for hostSelector").env("FLEETWALL_LABELS").default(""))
      .addOption(new Option("--state-dir <dir>", "where the last applied state and pinned key are kept").env("FLEETWALL_STATE_DIR").default("/var/lib/fleetwall"))
      .addOption(new Option("--controller-key <file>", "the controller's public key (PEM); without it the first key seen is pinned").env("FLEETWALL_CONTROLLER_KEY"))
      .option("--ssh-port <port>", "failsafe management SSH port (repeatable)", collect)
      .option("--ssh-source <cidr>", "management networks: SSH from them is accepted before any policy rule, never banned here, and never banned fleet-wide by a detection (repeatable)", collect)
      .option("--trust-first-key", "without --controller-key, pin the first controller key seen even on a bus without authentication")
      .option("--no-dhcp", "do not render the DHCP client failsafe")
      .option("--heartbeat <duration>", "report interval", "10s")
      .option("--drift-interval <duration>", "how often the kernel table is compared and repaired", "10s")
      .option("--confirm-window <duration>", "after an apply, how long the bus may take to answer before the ruleset is rolled back", "20s")
      .option("--no-nats-failsafe", "do not render the failsafe rules for the agent's own NATS connection (commit-confirm still guards it)")
      .option("--nft <path>", "nft binary", "nft")
      .option("--listen <host:port>", "/metrics, /healthz and /readyz", "127.0.0.1:9475")
      .option("--probe-listen <host:port>", "a listener of its own for /healthz and /readyz only, which a flood of --listen cannot starve (point liveness probes at it; Kubernetes: the node's address)")
      .option("--boot", "restore the last applied ruleset from the state directory and exit (for early boot)")
      .option("--dry-run", "print the nft scripts the agent would apply; enforce, register, report and signal nothing")
      .addOption(new Option("--log-level <level>").env("FLEETWALL_LOG_LEVEL").default("info")),
  ).action(async (opts) => {
    const { parseConfig, configOnly, AgentConfig, checkAgentConfig } = await import("./config.js");
    const cfg = parseConfig(AgentConfig, opts);
    if (await configOnly(opts, cfg, checkAgentConfig)) return;
    const { agentBootMain, agentMain: main } = await agentMain();
    await (opts.boot ? agentBootMain(cfg) : main(cfg));
  });

  agentCommand
    .command("uninstall")
    .description("remove exactly what the agent created: its two nftables tables and its state files")
    .addOption(new Option("--state-dir <dir>", "the agent's state directory").env("FLEETWALL_STATE_DIR").default("/var/lib/fleetwall"))
    .option("--nft <path>", "nft binary", "nft")
    .action(async (opts: { stateDir: string; nft: string }) => {
      const removed = await (await agentMain()).uninstallAgent(opts.stateDir, opts.nft);
      process.stdout.write(removed.length ? `removed ${removed.join(", ")}\n` : "nothing to remove\n");
    });
}

/** A Lease identity no other process has: the host name alone was shared by two controllers run by hand on one machine. */
function processIdentity(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
}
