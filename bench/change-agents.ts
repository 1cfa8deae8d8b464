// Child of bench/change.ts: `count` simulated agents in this process, each with its own NATS
// connection: it registers with labels (as the real agent does), follows its desired-state key with
// the real AgentLink watch, verifies each state with the real verifyDesired, and prints when a new
// revision arrived verified: {agent, revision, at}. The nft apply is left out.
import { setMaxListeners } from "node:events";
import { pino } from "pino";
import { FLEETWALL_VERSION } from "../api/src/index.js";
import { AgentLink, verifyDesired } from "../agent/src/index.js";
import { fleetLabels } from "./fleet-policies.js";

const [servers, first, count, pem] = [process.argv[2] as string, Number(process.argv[3]), Number(process.argv[4]), Buffer.from(process.argv[5] as string, "base64").toString()];
const log = pino({ level: "silent" });
const ac = new AbortController();
setMaxListeners(0, ac.signal); // every simulated agent in this process listens to the one signal
process.on("SIGTERM", () => {
  ac.abort();
  process.exit(0);
});
const dec = new TextDecoder();

for (let i = first; i < first + count; i += 1) {
  const id = `h${i}`;
  const link = await AgentLink.connect({ connection: { servers: servers.split(","), noAsyncTraces: true }, hostId: id, log });
  let applied = 0;
  await link.register({ schemaVersion: 1, hostId: id, labels: fleetLabels(i), addresses: [], agentVersion: FLEETWALL_VERSION, nftVersion: "simulated", startedAt: new Date().toISOString() }, ac.signal);
  void link.watchDesired(async (data) => {
    const v = verifyDesired(dec.decode(data), { hostId: id, trustedKey: pem, appliedRevision: applied });
    if (!v.ok) return;
    applied = v.state.revision;
    process.stdout.write(`${JSON.stringify({ agent: id, revision: applied, at: Date.now() })}\n`);
  }, ac.signal).catch(() => undefined);
}
process.stdout.write(`${JSON.stringify({ ready: count })}\n`);
