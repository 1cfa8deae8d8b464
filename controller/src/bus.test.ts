import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { BANS_BUCKET, BANS_REPUBLISH } from "@fleetwall/api";
import { loopbackNats } from "../../test/harness/loopback-nats.js";
import { ControllerBus } from "./bus.js";

describe("ControllerBus set-up", () => {
  const nats = loopbackNats("bus-setup");

  it("makes the bans bucket republish its entries, and carries on with one made without it", async () => {
    const lines: string[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
    const options = { connection: { servers: nats.server.url }, replicas: 1, log, onInvalid: () => undefined };
    const bus = await ControllerBus.connect(options);
    const nc = await connect({ servers: nats.server.url });
    try {
      const kvm = new Kvm(nc);
      expect((await (await kvm.open(BANS_BUCKET)).status()).streamInfo.config.republish).toEqual(BANS_REPUBLISH);
      await bus.close();
      // a bucket made before decisions were republished: this nats-server cannot add it, and says so
      await (await kvm.open(BANS_BUCKET)).destroy();
      await (await kvm.create(BANS_BUCKET, { history: 1 })).put("l.keep", "1");
      const again = await ControllerBus.connect(options);
      await again.close();
      const refused = lines.find((l) => l.includes("does not republish"));
      const added = lines.find((l) => l.includes("now republishes"));
      // either outcome is told (nats-server 2.9 refuses); the bucket and its entries are kept
      expect(refused ?? added).toBeDefined();
      expect((await (await kvm.open(BANS_BUCKET)).get("l.keep"))?.string()).toBe("1");
      if (added) expect((await (await kvm.open(BANS_BUCKET)).status()).streamInfo.config.republish).toEqual(BANS_REPUBLISH);
    } finally {
      await nc.close();
    }
  });
});
