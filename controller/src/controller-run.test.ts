import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { generateSigningKeyPem, loadSigningKey, parseResource, type FirewallPolicy } from "@fleetwall/api";
import { Controller, type DesiredSink } from "./controller.js";

const key = loadSigningKey(generateSigningKeyPem().privatePem);
const log = pino({ level: "silent" });
const policy = parseResource({ apiVersion: "fleetwall.io/v1alpha1", kind: "FirewallPolicy", metadata: { name: "web" }, spec: { hostSelector: {}, ingress: [{ name: "ssh", action: "Allow", protocol: "tcp", ports: [22] }] } });
const registration = { schemaVersion: 1 as const, hostId: "web-1", labels: {}, addresses: ["198.18.1.11"], agentVersion: "0.1.0", nftVersion: "1.0.6", startedAt: "2026-01-01T00:00:00Z" };
const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

describe("Controller.run: the reconcile loop", () => {
  it("retries a pass the bus refuses, with backoff, until it is published", async () => {
    const puts: string[] = [];
    let refusals = 2;
    const sink: DesiredSink = {
      putDesired: async (hostId) => {
        if (refusals-- > 0) throw new Error("no responders");
        puts.push(hostId);
      },
    };
    const c = new Controller(sink, key, log, new Map());
    if (!policy.ok) throw new Error("test policy invalid");
    c.setPolicies({ policies: [policy.resource as FirewallPolicy], banLists: [], errors: [] });
    c.setHost("web-1", registration);
    const ac = new AbortController();
    const running = c.run(ac.signal);
    while (puts.length === 0) await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    await running;
    expect(puts).toEqual(["web-1"]);
    expect(c.reconciles).toBe(3);
  });

  it("stops at once when aborted while waiting to retry, leaving no timer", async () => {
    const before = timers();
    let tries = 0;
    const c = new Controller({ putDesired: () => (tries++, Promise.reject(new Error("down"))) }, key, log, new Map());
    if (!policy.ok) throw new Error("test policy invalid");
    c.setPolicies({ policies: [policy.resource as FirewallPolicy], banLists: [], errors: [] });
    c.setHost("web-1", registration);
    const ac = new AbortController();
    const running = c.run(ac.signal);
    while (tries === 0) await new Promise((r) => setImmediate(r));
    ac.abort();
    await running;
    expect(timers()).toBe(before);
  });

  it("publishes nothing for a registered host until the source has delivered its first set (a source that cannot list must not empty every host)", async () => {
    const puts: string[] = [];
    const c = new Controller({ putDesired: async (hostId) => void puts.push(hostId) }, key, log, new Map());
    c.setHost("web-1", registration);
    expect(await c.reconcile()).toBe(0);
    expect(puts).toEqual([]);
    c.setPolicies({ policies: [], banLists: [], errors: [] });
    expect(await c.reconcile()).toBe(1);
    expect(puts).toEqual(["web-1"]);
  });
});

describe("Controller.setPolicies: what it logs", () => {
  it("logs an invalid manifest once, not on every change to any resource, and with no empty field", () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: "warn" }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    const c = new Controller({ putDesired: async () => undefined }, key, logger, new Map());
    if (!policy.ok) throw new Error("test policy invalid");
    const errors = [{ file: "", kind: "FirewallPolicy", name: "broken", errors: ["spec.ingress[0].ports[0]: must be 1-65535"] }];
    for (let i = 0; i < 5; i++) c.setPolicies({ policies: [policy.resource as FirewallPolicy], banLists: [], errors });
    const invalid = lines.filter((l) => l.msg === "invalid manifest");
    expect(invalid).toHaveLength(1);
    expect(invalid[0]).toMatchObject({ kind: "FirewallPolicy", name: "broken", errors: errors[0]?.errors });
    expect(invalid[0]).not.toHaveProperty("file");
  });
});
