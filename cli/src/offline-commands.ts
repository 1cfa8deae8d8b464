import type { Command } from "commander";
import { ConfigError } from "./config-error.js";
import { collect } from "./repeatable-flag.js";

// The commands that need neither NATS nor root: this file only declares their flags; each loads its
// module when it runs (`jail test` is benchmarked whole process against fail2ban-regex: its start-up counts).

/** `fleetwall render`. */
export function addRenderCommand(program: Command): void {
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
      const [{ renderForLabels }, { splitSources }, { natsFailsafe }] = await Promise.all([import("./render-command.js"), import("./config.js"), import("./nats-url.js")]);
      const script = await renderForLabels(opts.file, opts.labels, {
        sshPorts: (opts.sshPort ?? ["22"]).map(Number),
        sshSources: splitSources(opts.sshSource ?? []),
        nats: opts.nats ? natsFailsafe(opts.nats.split(",")) : [],
        dhcp: opts.dhcp,
      });
      process.stdout.write(script);
    });
}

/** `fleetwall jail test`, `import fail2ban`, `keygen` and `nats-auth`. */
export function addToolCommands(program: Command): void {
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
      const { jailTestRun, formatJailTest, filterFile } = await import("./jail-test.js");
      const leftOut = (l: { what: string; why: string }) => process.stderr.write(`left out: ${l.what}: ${l.why}\n`);
      const spec = opts.filterFile ? filterFile(opts.filterFile, { ...(opts.mode ? { mode: opts.mode } : {}), logtype: opts.journal ? "journal" : "file" }, leftOut) : opts.filter;
      formatJailTest(jailTestRun(file, spec, opts.failRegex ?? []), opts.json === true, (s) => process.stdout.write(s));
    });

  program
    .command("import")
    .description("import configuration from other tools")
    .command("fail2ban [dir]")
    .description("fail2ban's enabled jails (jail.conf, jail.local, jail.d/, filter.d/) as a FirewallPolicy and an Allow BanList, printed as YAML")
    .option("--name <name>", "name of the FirewallPolicy", "fail2ban")
    .option("--selector <k=v,...>", "labels of the hosts the jails run on (default: every host)")
    .option("-o, --out <file>", "write the YAML to a file instead of standard output")
    .action(async (dir: string | undefined, opts: { name: string; selector?: string; out?: string }) => {
      const { importFail2banDir, formatNotes, selectorLabels } = await import("./import-command.js");
      const r = importFail2banDir(dir ?? "/etc/fail2ban", { name: opts.name, matchLabels: selectorLabels(opts.selector), ...(opts.out ? { out: opts.out } : {}) });
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
    .description("create an nkey per process (controller, operator, each agent) and the nats-server accounts block (FLEET with JetStream, AGENTS) that confines each")
    .requiredOption("--host <id>", "an agent's host id (repeatable)", collect)
    .requiredOption("--out <dir>", "where to write the seed files and fleetwall-auth.conf")
    .action(async (opts: { host: string[]; out: string }) => {
      const { writeNatsAuth } = await import("./nats-auth-command.js");
      for (const f of await writeNatsAuth(opts.out, opts.host)) process.stdout.write(`wrote ${f}\n`);
    });
}
