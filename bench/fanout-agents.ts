// Child of bench/fanout.ts: runs `count` simulated agents in this process, each with its own NATS
// connection, the real AgentLink bans watch and the real Defender/BanSync, but an nft step that only
// records when each element arrived. Prints one JSON line per nft step: {agent, elements, at}.
import { pino } from "pino";
import { AgentLink, BanSync, Defender, NftBackend, type NftRunner } from "../agent/src/index.js";

const NO_FAILSAFE = { sshPorts: [], sshSources: { ip: [], ip6: [] }, nats: [], dhcp: false };
import { lineWriter, simArgs } from "./sim-process.js";

const { servers, first, count, pem, signal } = simArgs();
const log = pino({ level: "silent" });
const emit = lineWriter();

for (let i = first; i < first + count; i += 1) {
  const id = `sim-${i}`;
  const recorder: NftRunner = {
    async run(_args, script) {
      const at = Date.now();
      const elements: string[] = [];
      for (const m of (script ?? "").matchAll(/add element inet fleetwall_bans \w+ \{ ([^}]*) \}/g)) {
        for (const el of (m[1] as string).split(", ")) {
          const space = el.indexOf(" "); // "<address> timeout 3600s"
          elements.push(space < 0 ? el : el.slice(0, space));
        }
      }
      // one record per nft step, not per element: the bench's own output must not be what it measures
      if (elements.length > 0) emit({ agent: id, elements, at });
      return "";
    },
  };
  const link = await AgentLink.connect({ connection: { servers, noAsyncTraces: true }, hostId: id, log });
  const bans = new BanSync(new NftBackend(recorder, NO_FAILSAFE), log);
  await bans.synced();
  const defender = new Defender(bans, id, {}, () => pem, log);
  void link.watchBans((k, d) => defender.onDecisionEntry(k, d), signal).catch(() => undefined);
}
process.stdout.write(`${JSON.stringify({ ready: count })}\n`);
