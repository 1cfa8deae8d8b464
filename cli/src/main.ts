#!/usr/bin/env node
import { setFlagsFromString } from "node:v8";
import { Command } from "commander";
import { FLEETWALL_VERSION, REGEX_FLAGS } from "@fleetwall/api/version";
import { ConfigError } from "./config-error.js";
import { addBansCommands, addDiffCommand, addHostsCommands, addStatusCommand } from "./fleet-commands.js";
import { addRenderCommand, addToolCommands } from "./offline-commands.js";
import { addAgentCommands, addControllerCommand } from "./process-commands.js";

// Each command loads what it needs when it runs: this file and the ones declaring the commands
// import only commander and plain constants, so `fleetwall jail test` loads neither the NATS client,
// nor pino and prom-client, nor the process's configuration schemas. The controller and the agent
// are entry points of their own packages (controller/src/main.ts, agent/src/main.ts), which own their
// lifecycle: the CLI only parses flags into a frozen config.

/** Errors that are the user's input, reported as such (exit 2), by class name across lazy modules. */
const INPUT_ERRORS = new Set(["ConfigError", "InvalidManifestError", "LinearRegexError", "UntranslatableRegex", "Fail2banConfigError"]);

// Jail filters must be linear-time regexes (checked with the `l` flag), run on the fast engine, and
// fall back to the linear engine when a line makes them backtrack: hostile log lines cost linear time.
for (const flag of REGEX_FLAGS) setFlagsFromString(flag);

const program = new Command()
  .name("fleetwall")
  .description("Declarative host firewall for fleets of Linux hosts, with fleet-wide ban sharing")
  .version(FLEETWALL_VERSION)
  // options belong to the command they follow: `agent uninstall --state-dir X` is uninstall's
  .enablePositionalOptions();

// in the order `--help` lists them
addControllerCommand(program);
addAgentCommands(program);
addStatusCommand(program);
addRenderCommand(program);
addDiffCommand(program);
addBansCommands(program);
addHostsCommands(program);
addToolCommands(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof ConfigError || (error instanceof Error && INPUT_ERRORS.has(error.name))) {
    process.stderr.write(`fleetwall: invalid input:\n${error.message}\n`);
    process.exitCode = 2;
    return;
  }
  process.stderr.write(`fleetwall: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
