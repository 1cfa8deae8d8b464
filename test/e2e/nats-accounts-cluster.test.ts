import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, nkeyAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { BANS_BUCKET, DESIRED_BUCKET, HOSTS_BUCKET, PROTECTION_BUCKET, PROTECTION_SUBJECT, SIGNALS_STREAM, agentInboxPrefix } from "@fleetwall/api";
import { attacker } from "../harness/netns.js";
import { securedFleet, type SecuredFleet } from "../harness/secured-fleet.js";
import type { FleetHost } from "../harness/fleet.js";
import { waitFor } from "../harness/sh.js";

// `fleetwall nats-auth`'s two accounts (FLEET with JetStream, AGENTS) on a three-server JetStream
// cluster with replicated streams, as the README recommends for more than one server: what agents
// do crosses accounts and servers, and a response an agent directs at a FLEET stream is stored in none.
const STREAMS = [`KV_${BANS_BUCKET}`, `KV_${DESIRED_BUCKET}`, `KV_${HOSTS_BUCKET}`, `KV_${PROTECTION_BUCKET}`, SIGNALS_STREAM];

describe("NATS accounts on a three-server cluster", () => {
  let s: SecuredFleet;
  let c1: FleetHost;
  let c2: FleetHost;
  const clients: NatsConnection[] = [];

  /** A connection with one of the generated identities to the `server`-th server of the cluster. */
  const on = async (server: number, name: string, host?: string) => {
    const nc = await connect({
      servers: s.fleet.natsServers[server]?.url as string,
      authenticator: nkeyAuthenticator(new TextEncoder().encode(readFileSync(join(s.creds, `${name}.nk`), "utf8").trim())),
      ...(host ? { inboxPrefix: agentInboxPrefix(host) } : {}),
      timeout: 3000,
    });
    clients.push(nc);
    return nc;
  };

  beforeAll(async () => {
    s = await securedFleet(["c1", "c2"], { attackers: 2, cluster: 3, controller: ["--replicas", "3"] });
    [c1, c2] = s.fleet.hosts as [FleetHost, FleetHost];
  }, 180_000);

  afterAll(async () => {
    for (const nc of clients) await nc.close().catch(() => undefined);
    await s?.destroy();
  });

  it("the fleet registers, applies and shares a detection; the streams are replicated; an operator lists bans and a host's elements", async () => {
    const jsm = await jetstreamManager(await on(0, "controller"));
    for (const name of STREAMS) expect([name, (await jsm.streams.info(name)).config.num_replicas]).toEqual([name, 3]);
    await s.detect(c1, c2, attacker(1));
    expect(await s.fleet.cli(["bans", "list", ...s.operator])).toContain(attacker(1));
    const listing = await s.fleet.cli(["bans", "list", "--host", "c2", "--elements", ...s.operator]);
    expect(listing).toMatch(new RegExp(`^ban4\\s+${attacker(1).replace(/\./g, "\\.")}\\s+in force`, "m"));
    // nothing any fleetwall process did was refused by any server
    for (const server of s.fleet.natsServers) expect(server.proc.log().split("\n").filter((l) => /Violation/.test(l))).toEqual([]);
  }, 120_000);

  it("an agent on the third server directs JetStream responses at FLEET's streams: they come back to AGENTS and no stream stores them", async () => {
    const jsm = await jetstreamManager(await on(0, "controller"));
    await s.fleet.controller?.stop();
    const lastSeqs = async () => Object.fromEntries(await Promise.all(STREAMS.map(async (n) => [n, (await jsm.streams.info(n)).state.last_seq] as const)));
    const before = await lastSeqs();
    const heard: string[] = [];
    // (c2's own key, heard on the server the request came to: here nats-server 2.9.10 did not carry
    // the response to a subscriber on another server)
    const c2nc = await on(2, "agent-c2", "c2");
    c2nc.subscribe(`$KV.${DESIRED_BUCKET}.c2`, { callback: (_e, m) => void heard.push(m.string().slice(0, 60)) });
    await c2nc.flush();
    const nc = await on(2, "agent-c1", "c1");
    nc.publish(`$JS.API.STREAM.INFO.KV_${BANS_BUCKET}`, "", { reply: `$KV.${DESIRED_BUCKET}.c2` });
    nc.publish(`$JS.API.DIRECT.GET.KV_${BANS_BUCKET}`, JSON.stringify({ seq: 1, next_by_subj: `$KV.${BANS_BUCKET}.>` }), { reply: PROTECTION_SUBJECT });
    nc.publish("$JS.API.INFO", "", { reply: `$KV.${BANS_BUCKET}.x` });
    nc.publish(`$JS.API.STREAM.INFO.KV_${BANS_BUCKET}`, "", { reply: `$KV.${HOSTS_BUCKET}.c2` });
    await nc.flush();
    await waitFor("the response back in the agents' account", () => heard.some((m) => m.startsWith('{"type":"io.nats.jetstream.api.v1.stream_info')), 30_000, 20);
    expect(await lastSeqs()).toEqual(before);
  }, 60_000);
});
