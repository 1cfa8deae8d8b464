import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { loopbackNats } from "../../test/harness/loopback-nats.js";
import { freePort } from "../../test/harness/nats.js";
import { AgentLink } from "./link.js";

const log = pino({ level: "silent" });

// the link's waits end when the agent stops: connecting to a server that is not there, and a
// commit-confirm round trip to a server that went away
describe("AgentLink and a stopping agent", () => {
  const nats = loopbackNats("link-stop");

  it("gives up connecting when the stop comes, and connects while not stopped", async () => {
    const ac = new AbortController();
    const connecting = AgentLink.connect({ connection: { servers: `nats://127.0.0.1:${await freePort()}` }, hostId: "s1", log }, ac.signal);
    ac.abort();
    await expect(connecting).rejects.toBeInstanceOf(Error);
    const link = await AgentLink.connect({ connection: { servers: nats.server.url }, hostId: "s1", log }, new AbortController().signal);
    await link.close();
  });

  it("a round trip answers true while the server answers, and false at once when the agent stops while it does not", async () => {
    const ac = new AbortController();
    const link = await AgentLink.connect({ connection: { servers: nats.server.url }, hostId: "s2", log }, ac.signal);
    const pid = nats.server.proc.child.pid as number;
    try {
      expect(await link.roundTrip(10_000)).toBe(true);
      // a server that holds the connection and answers nothing (as behind a firewall that drops its
      // replies): the flush waits, for an hour here, until the agent stops
      process.kill(pid, "SIGSTOP");
      const waiting = link.roundTrip(3_600_000);
      ac.abort();
      expect(await waiting).toBe(false);
    } finally {
      process.kill(pid, "SIGCONT");
      await link.close();
    }
  });
});
