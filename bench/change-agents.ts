// Child of bench/change.ts: `count` simulated agents in this process, each with its own NATS
// connection: it registers with labels (as the real agent does), follows its desired-state key with
// the real AgentLink watch, verifies each state with the real verifyDesired, and prints when a new
// revision arrived verified: {agent, revision, at}. The nft apply is left out.
import { pino } from "pino";
import { FLEETWALL_VERSION } from "../api/src/index.js";
import { AgentLink, verifyDesired } from "../agent/src/index.js";
import { fleetLabels } from "./fleet-policies.js";
import { lineWriter, simArgs } from "./sim-process.js";

const { servers, first, count, pem, signal } = simArgs();
const log = pino({ level: "silent" });
const emit = lineWriter();
const dec = new TextDecoder();

for (let i = first; i < first + count; i += 1) {
  const id = `h${i}`;
  const link = await AgentLink.connect({ connection: { servers, noAsyncTraces: true }, hostId: id, log });
  let applied = 0;
  await link.register({ schemaVersion: 1, hostId: id, labels: fleetLabels(i), addresses: [], agentVersion: FLEETWALL_VERSION, nftVersion: "simulated", startedAt: new Date().toISOString() }, signal);
  void link.watchDesired(async (data) => {
    const v = verifyDesired(dec.decode(data), { hostId: id, trustedKey: pem, appliedRevision: applied });
    if (!v.ok) return;
    applied = v.state.revision;
    emit({ agent: id, revision: applied, at: Date.now() });
  }, signal).catch(() => undefined);
}
process.stdout.write(`${JSON.stringify({ ready: count })}\n`);
