import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { pino } from "pino";
import { parseCidr } from "@fleetwall/api";
import { ControlPlaneResolver, knownServers, natsHosts } from "./control-plane.js";

describe("ControlPlaneResolver", () => {
  it("protects NATS servers by their addresses, resolved again each time, keeping the last when a name stops resolving", async () => {
    let answer: string[] | Error = ["198.18.0.5", "2001:db8::5"];
    const resolver = new ControlPlaneResolver(["nats://bus.example:4222", "tls://198.18.0.6:4222", "[2001:db8::7]:4222"], pino({ level: "silent" }), async () => {
      if (answer instanceof Error) throw answer;
      return answer;
    }, () => [parseCidr("198.18.0.1")]);
    const texts = async () => (await resolver.addresses()).map((c) => c.text);
    expect(await texts()).toEqual(["198.18.0.1", "198.18.0.5", "198.18.0.6", "2001:db8::5", "2001:db8::7"]);
    answer = ["198.18.0.9"];
    expect(await texts()).toEqual(["198.18.0.1", "198.18.0.6", "198.18.0.9", "2001:db8::7"]);
    answer = new Error("ENOTFOUND");
    expect(await texts()).toEqual(["198.18.0.1", "198.18.0.6", "198.18.0.9", "2001:db8::7"]);
  });

  it("a long run of rounds leaves no abort listener behind on its signal", async () => {
    const ac = new AbortController();
    let rounds = 0;
    const most: number[] = [];
    const resolver = new ControlPlaneResolver(["198.18.0.6:4222"], pino({ level: "silent" }), async () => [], () => [], 0);
    await resolver.run(() => {
      most.push(getEventListeners(ac.signal, "abort").length);
      if (++rounds === 50) ac.abort();
    }, ac.signal);
    expect(rounds).toBe(50);
    expect(Math.max(...most)).toBeLessThanOrEqual(1);
    expect(getEventListeners(ac.signal, "abort")).toHaveLength(0);
  });

  it("out of file descriptors (own addresses throw EMFILE), the loop goes on with the last addresses and does not throw", async () => {
    let own: () => ReturnType<typeof parseCidr>[] = () => [parseCidr("198.18.0.1")];
    const resolver = new ControlPlaneResolver(["198.18.0.6:4222"], pino({ level: "silent" }), async () => [], () => own(), 0);
    const seen: string[][] = [];
    const ac = new AbortController();
    await resolver.run((cidrs) => {
      seen.push(cidrs.map((c) => c.text));
      own = () => {
        throw Object.assign(new Error("uv_interface_addresses returned Unknown system error 24"), { code: "ERR_SYSTEM_ERROR" });
      };
      if (seen.length === 3) ac.abort();
    }, ac.signal);
    expect(seen).toEqual([["198.18.0.1", "198.18.0.6"], ["198.18.0.1", "198.18.0.6"], ["198.18.0.1", "198.18.0.6"]]);
  });

  it("a round whose hand-on throws is logged, and the next round still comes", async () => {
    const resolver = new ControlPlaneResolver(["198.18.0.6:4222"], pino({ level: "silent" }), async () => [], () => [], 0);
    const ac = new AbortController();
    let rounds = 0;
    await resolver.run(() => {
      if (++rounds === 3) ac.abort();
      throw new Error("boom");
    }, ac.signal);
    expect(rounds).toBe(3);
  });

  it("protects the servers a connection knows and the addresses the server announces (connect_urls)", () => {
    const nc = { info: { connect_urls: ["198.18.0.5:4222", "[2001:db8::5]:4222"] }, getServers: () => [{ listen: "bus.example:4222" }] };
    expect(natsHosts(knownServers(["nats://bus.example:4222"], nc))).toEqual(["bus.example", "bus.example", "198.18.0.5", "2001:db8::5"]);
    expect(knownServers(["nats://bus.example:4222"], undefined)).toEqual(["nats://bus.example:4222"]);
  });

  it("reads hosts from every URL form", () => expect(natsHosts(["nats://a:1", "b:2", "tls://[::1]:3"])).toEqual(["a", "b", "::1"]));
});
