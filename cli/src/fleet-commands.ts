import { Option, type Command } from "commander";
import { natsAccess, withNatsOptions } from "./nats-access.js";
import { collect } from "./repeatable-flag.js";
import { ConfigError } from "./config-error.js";

// The commands that ask the controller over NATS: this file only declares their flags; each loads
// its module (and the NATS client) when it runs.
const bansCommands = () => import("./bans-command.js");

/** `fleetwall status`. */
export function addStatusCommand(program: Command): void {
  withNatsOptions(program
    .command("status")
    .description("print the hosts and policies of the fleet as the controller sees them"))
    .option("--json", "print JSON for scripts")
    .option("--timeout <duration>", "how long to wait for the controller", "3s")
    .action(async (opts: { nats: string; json?: boolean; timeout: string }) => {
      const { fetchStatus, formatStatus, statusTimeoutMs } = await import("./status-command.js");
      const timeout = statusTimeoutMs(opts.timeout);
      const status = await fetchStatus(natsAccess(opts), timeout);
      process.stdout.write(opts.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
    });
}

/** `fleetwall diff`. */
export function addDiffCommand(program: Command): void {
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
}

/** `fleetwall bans list|add|delete|import`. */
export function addBansCommands(program: Command): void {
  const bans = program.command("bans").description("inspect, add and lift bans across the fleet");

  addBansListCommand(bans);

  withNatsOptions(bans
    .command("add <cidr>")
    .description("ban an address or network on every host (the controller refuses allowlisted and protected ones)"))
    .option("--duration <duration>", "how long, e.g. 1h, 7d; without it the ban holds until deleted")
    .option("--reason <text>", "why", "")
    .action(async (cidr: string, opts: { nats: string; duration?: string; reason: string }) => {
      const { addBan, banSeconds } = await bansCommands();
      const reply = await addBan(natsAccess(opts), cidr, banSeconds(opts.duration), opts.reason);
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

  withNatsOptions(bans
    .command("import <file>")
    .description("ban every address or CIDR of a file (one per line) on every host; large lists travel as one decision each"))
    .requiredOption("--list <name>", "the list the entries belong to (bans delete works per address)")
    .option("--duration <duration>", "how long, e.g. 7d; without it the bans hold until deleted")
    .option("--reason <text>", "why", "")
    .action(async (file: string, opts: { nats: string; list: string; duration?: string; reason: string }) => {
      const { importBans, banSeconds } = await bansCommands();
      const r = await importBans(natsAccess(opts), file, opts.list, banSeconds(opts.duration), opts.reason);
      for (const x of r.refused.slice(0, 20)) process.stderr.write(`refused ${x.cidr}: ${x.reason}\n`);
      process.stdout.write(`published ${r.published}, refused ${r.refused.length}\n`);
    });
}

/** `fleetwall bans list`, and with `--elements` one host's kernel element by element. */
function addBansListCommand(bans: Command): void {
  withNatsOptions(bans
    .command("list")
    .description("the bans and allow entries in force: the fleet's decisions and the hosts' own local bans"))
    .option("--host <id>", "only what applies to this host, with what it reports it enforces (count and digest against its decisions)")
    .addOption(new Option("--origin <origin>", "only the fleet's decisions or the hosts' local bans").choices(["fleet", "local"]))
    .option("--list <name>", "only this list (local bans are in list 'local')")
    .option("--jail <name>", "only bans a jail made")
    .option("--elements", "with --host: ask that host for the elements its kernel's ban sets hold now, each marked in force, MISSING, EXTRA or REFUSED against its decisions (exit 1 when any differs)")
    .option("--limit <n>", "with --elements: most kernel elements listed, at most 5000; the rest are counted (default: 1000)")
    .option("--after <set:element>", "with --elements: the next page, from where the previous one said (next page: --after …)")
    .option("--timeout <duration>", "with --elements: how long to wait for the host's answer (default: 10s)")
    .option("--json", "print JSON for scripts")
    .action(async (opts: { nats: string; host?: string; origin?: "fleet" | "local"; list?: string; jail?: string; json?: boolean; elements?: boolean; limit?: string; timeout?: string; after?: string }) => {
      if (opts.elements) return listElements(opts);
      const stray = (["limit", "timeout", "after"] as const).find((f) => opts[f] !== undefined);
      if (stray) throw new ConfigError(`--${stray}: applies to --elements only`);
      const { listBans, formatBans } = await bansCommands();
      const listing = await listBans(natsAccess(opts), { host: opts.host, origin: opts.origin, list: opts.list, jail: opts.jail });
      // --json: the rows; with --host, the host's report of its bans beside them
      const json = opts.host ? listing : listing.rows;
      process.stdout.write(opts.json ? `${JSON.stringify(json, null, 2)}\n` : formatBans(listing));
    });
}

/** `fleetwall bans list --host H --elements`: the host's kernel, element by element, against its decisions. */
async function listElements(opts: { nats: string; host?: string; json?: boolean; limit?: string; timeout?: string; after?: string; origin?: string; list?: string; jail?: string }): Promise<void> {
  const { elementsFlags, hostElements, formatElements, elementsDiffer } = await import("./bans-elements.js");
  const flags = elementsFlags(opts);
  const { listBans, formatHostTruth } = await bansCommands();
  const access = natsAccess(opts);
  const listing = await listBans(access, { host: flags.host });
  const elements = await hostElements(access, flags.host, listing.rows, flags, !!listing.host?.stale);
  const out = opts.json ? `${JSON.stringify({ host: listing.host, elements }, null, 2)}\n` : `${listing.host ? formatHostTruth(listing.host) : ""}${formatElements(elements)}`;
  process.stdout.write(out);
  if (elementsDiffer(elements)) process.exitCode = 1;
}

/** `fleetwall hosts delete`. */
export function addHostsCommands(program: Command): void {
  const hosts = program.command("hosts").description("the hosts the controller knows");

  withNatsOptions(hosts
    .command("list")
    .description("the registered hosts and their addresses: those protected fleet-wide and those refused (outside --host-networks, networks, past the cap), with why"))
    .option("--json", "print JSON for scripts")
    .option("--timeout <duration>", "how long to wait for the controller", "3s")
    .action(async (opts: { nats: string; json?: boolean; timeout: string }) => {
      const { fetchStatus, formatHosts, statusTimeoutMs } = await import("./status-command.js");
      const status = await fetchStatus(natsAccess(opts), statusTimeoutMs(opts.timeout));
      process.stdout.write(opts.json ? `${JSON.stringify(status.hosts, null, 2)}\n` : formatHosts(status));
    });

  withNatsOptions(hosts
    .command("delete <id>")
    .description("forget a decommissioned host: its registration, desired state and status (refused while its agent still reports, unless --force)"))
    .option("--force", "forget it even though its agent still reports")
    .action(async (id: string, opts: { nats: string; force?: boolean }) => {
      const { deleteHost } = await import("./hosts-command.js");
      const reply = await deleteHost(natsAccess(opts), id, !!opts.force);
      process.stdout.write(`forgot host ${id}: ${reply.removed.join(", ")}\n`);
    });
}
