#!/usr/bin/env node
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { setFlagsFromString } from "node:v8";
import { Command, Option } from "commander";
import { z } from "zod";
import { FLEETWALL_VERSION, REGEX_FLAGS, boundedDurationMs, parseDurationMs } from "@fleetwall/api";
import { AgentConfig, ConfigError, ControllerConfig, checkAgentConfig, checkControllerConfig, parseConfig, splitSources } from "./config.js";
import { natsFailsafe } from "./nats-url.js";
import { natsAccess, withNatsOptions } from "./nats-access.js";

// Each command loads what it needs when it runs: `fleetwall jail test` need not load the NATS client.
// The controller and the agent are entry points of their own packages (controller/src/main.ts,
// agent/src/main.ts), which own their lifecycle: this file only parses flags into a frozen config.
const agentMain = () => import("@fleetwall/agent/main");
const bansCommands = () => import("./bans-command.js");

/** Errors that are the user's input, reported as such (exit 2), by class name across lazy modules. */
const INPUT_ERRORS = new Set(["ConfigError", "InvalidManifestError", "LinearRegexError", "UntranslatableRegex", "Fail2banConfigError"]);


// Jail filters must be linear-time regexes (checked with the `l` flag), run on the fast engine, and
// fall back to the linear engine when a line makes them backtrack: hostile log lines cost linear time.
for (const flag of REGEX_FLAGS) setFlagsFromString(flag);

const collect = (value: string, prev: string[] = []) => [...prev, value];

function configFlags(cmd: Command): Command {
  return cmd
    .option("--check-config", "validate the configuration and exit")
    .option("--print-config", "print the parsed configuration as JSON and exit");
}

/**
 * Handles --check-config / --print-config; true when the command should stop here. --check-config
 * also runs `check` (files exist and parse), and fails with every problem it finds.
 */
async function configOnly<C>(opts: { checkConfig?: boolean; printConfig?: boolean }, cfg: C, check: (cfg: C) => Promise<string[]>): Promise<boolean> {
  if (opts.printConfig) process.stdout.write(`${JSON.stringify(cfg, null, 2)}\n`);
  else if (opts.checkConfig) {
    const problems = await check(cfg);
    if (problems.length > 0) throw new ConfigError(problems.join("\n"));
    process.stdout.write("configuration OK\n");
  }
  return !!(opts.printConfig || opts.checkConfig);
}

/** `--duration` of `bans add`/`import`: whole seconds, at least one (the controller bounds it by its --max-ban). */
function banSeconds(text: string | undefined): number | null {
  if (text === undefined) return null;
  try {
    const ms = parseDurationMs(text);
    if (ms < 1000 || ms % 1000 !== 0) throw new ConfigError(`--duration: ${text} must be whole seconds, at least 1s`);
    return ms / 1000;
  } catch (error) {
    throw error instanceof ConfigError ? error : new ConfigError(`--duration: ${(error as Error).message}`);
  }
}

const program = new Command()
  .name("fleetwall")
  .description("Declarative host firewall for fleets of Linux hosts, with fleet-wide ban sharing")
  .version(FLEETWALL_VERSION)
  // options belong to the command they follow: `agent uninstall --state-dir X` is uninstall's
  .enablePositionalOptions();

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
    .option("--reporter-budget <n>", "fleet bans one reporting host can cause alone per minute (0: none); past it, its detections stay local", "10")
    .option("--report-window <duration>", "how long a host's report of an address counts towards a quorum", "10m")
    .option("--min-prefix4 <bits>", "broadest IPv4 prefix a ban may cover", "16")
    .option("--min-prefix6 <bits>", "broadest IPv6 prefix a ban may cover", "48")
    .option("--protect <cidr>", "never ban this address or network (repeatable; NATS servers always are)", collect)
    .option("--listen <host:port>", "/metrics, /healthz and /readyz", "0.0.0.0:8080")
    .addOption(new Option("--log-level <level>").env("FLEETWALL_LOG_LEVEL").default("info")),
).action(async (opts) => {
  const cfg = parseConfig(ControllerConfig, opts);
  if (await configOnly(opts, cfg, checkControllerConfig)) return;
  const { controllerMain } = await import("@fleetwall/controller/main");
  await controllerMain(cfg);
});

const agentCommand = configFlags(
  withNatsOptions(program
    .command("agent")
    .description("enforce this host's desired state with nftables and report back"), false)
    .addOption(new Option("--host-id <id>", "this host's id: a DNS label, lowercase letters, digits and - (required, or --host-id-from-node)").env("FLEETWALL_HOST_ID"))
    .addOption(new Option("--host-id-from-node <name>", "without --host-id: the id from a Kubernetes node name, dots become - (the chart passes spec.nodeName)").env("FLEETWALL_NODE_NAME"))
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
    .option("--boot", "restore the last applied ruleset from the state directory and exit (for early boot)")
    .option("--dry-run", "print the nft scripts the agent would apply; enforce, register, report and signal nothing")
    .addOption(new Option("--log-level <level>").env("FLEETWALL_LOG_LEVEL").default("info")),
).action(async (opts) => {
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

withNatsOptions(program
  .command("status")
  .description("print the hosts and policies of the fleet as the controller sees them"))
  .option("--json", "print JSON for scripts")
  .option("--timeout <duration>", "how long to wait for the controller", "3s")
  .action(async (opts: { nats: string; json?: boolean; timeout: string }) => {
    const timeout = parseConfig(z.object({ timeout: boundedDurationMs(100, 600_000) }), opts).timeout;
    const { fetchStatus, formatStatus } = await import("./status-command.js");
    const status = await fetchStatus(natsAccess(opts), timeout);
    process.stdout.write(opts.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
  });

program
  .command("render")
  .description("print the nft script a host with these labels would get (no NATS, no root)")
  .requiredOption("-f, --file <file>", "manifest file (repeatable)", collect)
  .option("--labels <k=v,...>", "the host's labels", "")
  .option("--nats <urls>", "render the NATS failsafe for these URLs")
  .option("--ssh-port <port>", "failsafe management SSH port (repeatable)", collect)
  .option("--ssh-source <cidr>", "failsafe SSH sources (repeatable)", collect)
  .option("--no-dhcp", "leave out the DHCP client failsafe")
  .action(async (opts: { file: string[]; labels: string; nats?: string; sshPort?: string[]; sshSource?: string[]; dhcp: boolean }) => {
    const { renderForLabels } = await import("./render-command.js");
    const script = await renderForLabels(opts.file, opts.labels, {
      sshPorts: (opts.sshPort ?? ["22"]).map(Number),
      sshSources: splitSources(opts.sshSource ?? []),
      nats: opts.nats ? natsFailsafe(opts.nats.split(",")) : [],
      dhcp: opts.dhcp,
    });
    process.stdout.write(script);
  });

withNatsOptions(program
  .command("diff")
  .description("show what would change on a host if these files were its policies (unified diff of the nft script)"))
  .requiredOption("--host <id>", "the host to compare")
  .requiredOption("-f, --file <file>", "manifest file (repeatable)", collect)
  .action(async (opts: { nats: string; host: string; file: string[] }) => {
    const { diffForHost } = await import("./diff-command.js");
    const patch = await diffForHost({
      access: natsAccess(opts),
      hostId: opts.host,
      files: opts.file,
      failsafe: { sshPorts: [22], sshSources: { ip: [], ip6: [] }, nats: [], dhcp: true },
    });
    process.stdout.write(patch || "no change\n");
    process.exitCode = patch ? 1 : 0;
  });

const bans = program.command("bans").description("inspect, add and lift bans across the fleet");

withNatsOptions(bans
  .command("list")
  .description("the bans and allow entries in force: the fleet's decisions and the hosts' own local bans"))
  .option("--host <id>", "only what applies to this host, with what it reports it enforces (count and digest against its decisions)")
  .addOption(new Option("--origin <origin>", "only the fleet's decisions or the hosts' local bans").choices(["fleet", "local"]))
  .option("--list <name>", "only this list (local bans are in list 'local')")
  .option("--jail <name>", "only bans a jail made")
  .option("--json", "print JSON for scripts")
  .action(async (opts: { nats: string; host?: string; origin?: "fleet" | "local"; list?: string; jail?: string; json?: boolean }) => {
    const { listBans, formatBans } = await bansCommands();
    const listing = await listBans(natsAccess(opts), { host: opts.host, origin: opts.origin, list: opts.list, jail: opts.jail });
    // --json: the rows; with --host, the host's report of its bans beside them
    const json = opts.host ? listing : listing.rows;
    process.stdout.write(opts.json ? `${JSON.stringify(json, null, 2)}\n` : formatBans(listing));
  });

withNatsOptions(bans
  .command("add <cidr>")
  .description("ban an address or network on every host (the controller refuses allowlisted and protected ones)"))
  .option("--duration <duration>", "how long, e.g. 1h, 7d; without it the ban holds until deleted")
  .option("--reason <text>", "why", "")
  .action(async (cidr: string, opts: { nats: string; duration?: string; reason: string }) => {
    const seconds = banSeconds(opts.duration);
    const reply = await (await bansCommands()).addBan(natsAccess(opts), cidr, seconds, opts.reason);
    process.stdout.write(`banned ${cidr} (${reply.keys.join(", ")})\n`);
  });

withNatsOptions(bans
  .command("delete <cidr>")
  .description("lift every ban of exactly this address or network"))
  .action(async (cidr: string, opts: { nats: string }) => {
    const reply = await (await bansCommands()).deleteBan(natsAccess(opts), cidr);
    const local = (reply.lifted ?? []).map((l) => `local ban on ${l.host} (jail ${l.jail})`);
    process.stdout.write(`lifted ${[...reply.keys, ...local].join(", ")}\n`);
    if (reply.unconfirmed?.length) {
      process.stderr.write(`not confirmed lifted on ${reply.unconfirmed.join(", ")}\n`);
      process.exitCode = 1;
    }
  });

const hosts = program.command("hosts").description("the hosts the controller knows");

withNatsOptions(hosts
  .command("delete <id>")
  .description("forget a decommissioned host: its registration, desired state and status (refused while its agent still reports, unless --force)"))
  .option("--force", "forget it even though its agent still reports")
  .action(async (id: string, opts: { nats: string; force?: boolean }) => {
    const { deleteHost } = await import("./hosts-command.js");
    const reply = await deleteHost(natsAccess(opts), id, !!opts.force);
    process.stdout.write(`forgot host ${id}: ${reply.removed.join(", ")}\n`);
  });

withNatsOptions(bans
  .command("import <file>")
  .description("ban every address or CIDR of a file (one per line) on every host; large lists travel as one decision each"))
  .requiredOption("--list <name>", "the list the entries belong to (bans delete works per address)")
  .option("--duration <duration>", "how long, e.g. 7d; without it the bans hold until deleted")
  .option("--reason <text>", "why", "")
  .action(async (file: string, opts: { nats: string; list: string; duration?: string; reason: string }) => {
    const seconds = banSeconds(opts.duration);
    const r = await (await bansCommands()).importBans(natsAccess(opts), file, opts.list, seconds, opts.reason);
    for (const x of r.refused.slice(0, 20)) process.stderr.write(`refused ${x.cidr}: ${x.reason}\n`);
    process.stdout.write(`published ${r.published}, refused ${r.refused.length}\n`);
  });

program
  .command("jail")
  .description("work with jails")
  .command("test <file>")
  .description("run a filter over a log file offline and print what it matches, like fail2ban-regex")
  .option("--filter <name>", "a built-in filter: sshd, sshd-ddos, sshd-extra, sshd-aggressive, nginx-http-auth, gotosocial-auth")
  .option("--fail-regex <re>", "a fail2ban-style regex with <HOST> (repeatable)", collect)
  .option("--filter-file <path>", "a fail2ban filter file (filter.d/NAME.conf), like fail2ban-regex LOG FILTER")
  .option("--mode <mode>", "the filter's mode (fail2ban's filter[mode=…]), with --filter-file")
  .option("--journal", "the log's lines are journal lines (no time stamp), with --filter-file")
  .option("--json", 'print {"lines","matched","matches":[{"line","host"}]}')
  .action(async (file: string, opts: { filter?: string; failRegex?: string[]; filterFile?: string; mode?: string; journal?: boolean; json?: boolean }) => {
    if (!opts.filter && !opts.failRegex?.length && !opts.filterFile) throw new ConfigError("--filter, --fail-regex or --filter-file is needed");
    const { jailTest, filterFile } = await import("./jail-test.js");
    const spec = opts.filterFile ? filterFile(opts.filterFile, { ...(opts.mode ? { mode: opts.mode } : {}), logtype: opts.journal ? "journal" : "file" }) : opts.filter;
    const r = await jailTest(file, spec, opts.failRegex ?? []);
    if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else process.stdout.write(`${r.matches.map((m) => `${m.line}: ${m.host}${m.address === false ? " (a host name: not banned)" : ""}`).join("\n")}${r.matches.length ? "\n" : ""}lines: ${r.lines}, matched: ${r.matched}\n`);
  });

program
  .command("import")
  .description("import configuration from other tools")
  .command("fail2ban [dir]")
  .description("fail2ban's enabled jails (jail.conf, jail.local, jail.d/, filter.d/) as a FirewallPolicy and an Allow BanList, printed as YAML")
  .option("--name <name>", "name of the FirewallPolicy", "fail2ban")
  .option("--selector <k=v,...>", "labels of the hosts the jails run on (default: every host)", "")
  .option("-o, --out <file>", "write the YAML to a file instead of standard output")
  .action(async (dir: string | undefined, opts: { name: string; selector: string; out?: string }) => {
    const { importFail2banDir, formatNotes } = await import("./import-command.js");
    const matchLabels = Object.fromEntries(opts.selector.split(",").filter(Boolean).map((kv) => kv.split("=", 2) as [string, string]));
    const r = importFail2banDir(dir ?? "/etc/fail2ban", { name: opts.name, matchLabels, ...(opts.out ? { out: opts.out } : {}) });
    if (!opts.out) process.stdout.write(r.yaml);
    process.stderr.write(`imported jails: ${r.jails.join(", ") || "none"}\n${formatNotes(r.notes)}`);
  });

program
  .command("keygen")
  .description("create the controller's Ed25519 signing key: signing-key.pem, and signing-key.pem.pub for agents")
  .requiredOption("--out <dir>", "where to write the two files (the private key is not overwritten)")
  .action(async (opts: { out: string }) => {
    const { writeSigningKey } = await import("@fleetwall/controller/main");
    for (const f of await writeSigningKey(opts.out)) process.stdout.write(`wrote ${f}\n`);
  });

program
  .command("nats-auth")
  .description("create an nkey per process (controller, operator, each agent) and the nats-server authorization block that confines each")
  .requiredOption("--host <id>", "an agent's host id (repeatable)", collect)
  .requiredOption("--out <dir>", "where to write the seed files and fleetwall-auth.conf")
  .action(async (opts: { host: string[]; out: string }) => {
    const { writeNatsAuth } = await import("./nats-auth-command.js");
    for (const f of await writeNatsAuth(opts.out, opts.host)) process.stdout.write(`wrote ${f}\n`);
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof ConfigError || (error instanceof Error && INPUT_ERRORS.has(error.name))) {
    process.stderr.write(`fleetwall: invalid input:\n${error.message}\n`);
    process.exitCode = 2;
    return;
  }
  process.stderr.write(`fleetwall: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});

/** A Lease identity no other process has: the host name alone was shared by two controllers run by hand on one machine. */
function processIdentity(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
}
