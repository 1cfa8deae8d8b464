// Child of bench/fanout.ts: runs `count` simulated agents in this process, each with its own NATS
// connection, the real AgentLink bans watch and the real Defender/BanSync, but an nft step that only
// records when each element arrived. Prints one JSON line per element applied: {agent, element, at}.
import { setMaxListeners } from "node:events";
import { pino } from "pino";
import { AgentLink, BanSync, Defender, type NftRunner } from "../agent/src/index.js";

const [servers, first, count, pem] = [process.argv[2] as string, Number(process.argv[3]), Number(process.argv[4]), Buffer.from(process.argv[5] as string, "base64").toString()];
const log = pino({ level: "silent" });
const ac = new AbortController();
setMaxListeners(0, ac.signal); // every simulated agent in this process listens to the one signal
process.on("SIGTERM", () => {
  ac.abort();
  process.exit(0);
});

// arrivals are written once per turn of the event loop: a write per agent and element would cost
// the simulated agents more CPU than the code they simulate
let out: string[] = [];
const emit = (line: string) => {
  if (out.length === 0) {
    setImmediate(() => {
      process.stdout.write(out.join(""));
      out = [];
    });
  }
  out.push(line);
};

for (let i = first; i < first + count; i += 1) {
  const id = `sim-${i}`;
  const recorder: NftRunner = {
    async run(_args, script) {
      const at = Date.now();
      for (const m of (script ?? "").matchAll(/add element inet fleetwall_bans \w+ \{ ([^}]*) \}/g)) {
        for (const el of (m[1] as string).split(", ")) emit(`${JSON.stringify({ agent: id, element: el.split(" ")[0], at })}\n`);
      }
      return "";
    },
  };
  const link = await AgentLink.connect({ connection: { servers: servers.split(","), noAsyncTraces: true }, hostId: id, log });
  const defender = new Defender(new BanSync(recorder, log), id, {}, () => pem, log);
  void link.watchBans((k, d) => defender.onDecisionEntry(k, d), ac.signal).catch(() => undefined);
}
process.stdout.write(`${JSON.stringify({ ready: count })}\n`);
