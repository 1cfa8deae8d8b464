// What every process of simulated agents (change-agents.ts, fanout-agents.ts) shares: its arguments,
// one abort signal for all its agents, and output that costs the agents as little as it can.
import { setMaxListeners } from "node:events";

export interface SimArgs {
  servers: string[];
  first: number;
  count: number;
  /** The controller's public key (PEM), passed base64 on the command line. */
  pem: string;
  signal: AbortSignal;
}

/** `<servers> <first> <count> <base64 pem>`, and a signal that SIGTERM aborts before the process exits. */
export function simArgs(argv = process.argv.slice(2)): SimArgs {
  const [servers, first, count, pem] = argv;
  if (!servers || !first || !count || !pem) throw new Error("usage: <nats servers> <first index> <count> <base64 public key>");
  const ac = new AbortController();
  setMaxListeners(0, ac.signal); // every simulated agent in this process listens to the one signal
  process.on("SIGTERM", () => {
    ac.abort();
    process.exit(0);
  });
  return { servers: servers.split(","), first: Number(first), count: Number(count), pem: Buffer.from(pem, "base64").toString(), signal: ac.signal };
}

/**
 * Writes JSON lines once per turn of the event loop. stdout to a pipe is written synchronously: a
 * write per agent and event blocked the process's 250 agents behind each other and cost them more
 * CPU than the code they simulate.
 */
export function lineWriter(): (value: unknown) => void {
  let out: string[] = [];
  return (value) => {
    if (out.length === 0) {
      setImmediate(() => {
        process.stdout.write(out.join(""));
        out = [];
      });
    }
    out.push(`${JSON.stringify(value)}\n`);
  };
}
