import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { BanSignal, JailIR } from "@fleetwall/api";
import type { BanSync } from "./bans.js";
import { Defender, type SignalSink } from "./defender.js";

const log = pino({ level: "silent" });
const jail: JailIR = { name: "sshd", filter: "sshd", source: { file: "/var/log/auth.log" }, maxRetry: 3, findTimeSeconds: 600, banTimeSeconds: 600, share: "Fleet" } as unknown as JailIR;
/** A BanSync that takes every local ban at once and allows nothing. */
const bans = { allowed: () => false, set: () => Promise.resolve(), setLocal: () => Promise.resolve() } as unknown as BanSync;
const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

describe("Defender: signals to the fleet", () => {
  it("retries a signal the bus refuses until it is delivered, in order", async () => {
    const d = new Defender(bans, "h", {}, () => undefined, log);
    const sent: string[] = [];
    let refusals = 2;
    const sink: SignalSink = {
      publishSignal: async (s: BanSignal) => {
        if (refusals-- > 0) throw new Error("no responders");
        sent.push(s.address);
      },
    };
    d.onJailBan({ address: "203.0.113.1", failures: 3, banSeconds: 600, jail: "sshd" }, jail, undefined);
    d.onJailBan({ address: "203.0.113.2", failures: 3, banSeconds: 600, jail: "sshd" }, jail, undefined);
    await d.drain(sink);
    expect(sent).toEqual(["203.0.113.1", "203.0.113.2"]);
    expect(d.signalsSent).toBe(2);
  });

  it("stops retrying when closed (the agent stops while the bus is away), leaving no timer", async () => {
    const before = timers();
    const d = new Defender(bans, "h", {}, () => undefined, log);
    let tries = 0;
    const sink: SignalSink = { publishSignal: () => (tries++, Promise.reject(new Error("connection closed"))) };
    d.onJailBan({ address: "203.0.113.3", failures: 3, banSeconds: 600, jail: "sshd" }, jail, undefined);
    const draining = d.drain(sink);
    while (tries === 0) await new Promise((r) => setImmediate(r));
    d.close();
    await draining;
    expect(d.queuedSignals).toBe(1);
    expect(timers()).toBe(before);
  });
});
