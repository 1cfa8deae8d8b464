import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { HOSTS_BUCKET, SCHEMA_VERSION, type HostRegistration } from "@fleetwall/api";
import { loopbackNats } from "../../test/harness/loopback-nats.js";
import { ControllerBus } from "./bus.js";
import { vanishedHosts } from "./host-audit.js";

const reg = (hostId: string, address: string): HostRegistration => ({ schemaVersion: SCHEMA_VERSION, hostId, labels: {}, addresses: [address], agentVersion: "t", nftVersion: "t", startedAt: "2026-01-01T00:00:00.000Z" });

describe("vanishedHosts", () => {
  it("names the followed hosts whose key the bucket no longer holds", () => {
    expect(vanishedHosts(["h1", "h2", "h3"], new Set(["h1", "h3", "other"]))).toEqual(["h2"]);
    expect(vanishedHosts([], new Set(["h1"]))).toEqual([]);
  });
});

describe("HostAudit on a real nats-server", () => {
  const nats = loopbackNats("host-audit");

  it("puts back a registration removed from the stream without a delete, and never one an operator deleted", async () => {
    const lines: { msg: string }[] = [];
    const log = pino({ level: "info" }, { write: (l: string) => void lines.push(JSON.parse(l) as { msg: string }) });
    const bus = await ControllerBus.connect({ connection: { servers: nats.server.url }, replicas: 1, log, onInvalid: () => undefined });
    const nc = await connect({ servers: nats.server.url });
    try {
      const known = new Map([["h1", reg("h1", "198.18.0.1")], ["h2", reg("h2", "198.18.0.2")], ["h3", reg("h3", "198.18.0.3")]]);
      const { Kvm } = await import("@nats-io/kv");
      const kv = await new Kvm(nc).open(HOSTS_BUCKET);
      for (const [id, r] of known) await kv.put(id, JSON.stringify(r));
      expect(await bus.hostAudit.pass(known)).toEqual([]);
      // h2's message removed as a rollup did it (no delete marker); h3 deleted by `hosts delete`
      await (await jetstreamManager(nc)).streams.purge(`KV_${HOSTS_BUCKET}`, { filter: `$KV.${HOSTS_BUCKET}.h2` });
      await bus.deleteHost("h3");
      expect(await kv.get("h2")).toBeNull();
      expect(await bus.hostAudit.pass(known)).toEqual(["h2"]);
      expect(JSON.parse((await kv.get("h2"))?.string() ?? "null")).toEqual(known.get("h2"));
      expect((await kv.get("h3"))?.operation).toBe("DEL");
      expect(bus.hostAudit.restored).toBe(1);
      expect(lines.filter((l) => l.msg.startsWith("host registration gone from the hosts bucket"))).toHaveLength(1);
      // what the agent put meanwhile is kept: nothing to put back
      await kv.put("h1", JSON.stringify(reg("h1", "198.18.0.9")));
      expect(await bus.hostAudit.pass(known)).toEqual([]);
      expect(JSON.parse((await kv.get("h1"))?.string() ?? "null").addresses).toEqual(["198.18.0.9"]);
    } finally {
      await bus.close();
      await nc.close();
    }
  });
});
