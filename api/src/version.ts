// Plain constants the CLI needs before it knows which command runs: nothing here may import zod or
// any other module that is costly to load (cli/src/main.ts loads them at every start).

/** The version of fleetwall itself, reported by agents and `fleetwall --version`. */
export const FLEETWALL_VERSION = "0.1.0";

/**
 * The V8 flags jail filters rely on: `l` (linear-time) regexes are accepted, and a match that
 * backtracks too much moves to the linear engine. The `fleetwall` binary sets them at start-up.
 */
export const REGEX_FLAGS = ["--enable-experimental-regexp-engine", "--enable-experimental-regexp-engine-on-excessive-backtracks", "--regexp-backtracks-before-fallback=5000"] as const;
