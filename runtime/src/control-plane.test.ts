import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { pino } from "pino";
import { parseCidr } from "@fleetwall/api";
import { ControlPlaneResolver, natsHosts } from "./control-plane.js";

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

  it("reads hosts from every URL form", () => expect(natsHosts(["nats://a:1", "b:2", "tls://[::1]:3"])).toEqual(["a", "b", "::1"]));
});
