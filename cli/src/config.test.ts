import { generateKeyPairSync } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateSigningKeyPem } from "@fleetwall/api";
import { natsUrlProblem } from "@fleetwall/runtime/config";
import { AgentConfig, ConfigError, ControllerConfig, checkAgentConfig, checkControllerConfig, parseConfig } from "./config.js";

const dir = mkdtempSync(join(tmpdir(), "fleetwall-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const ed = generateSigningKeyPem();
const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 });
const keys = {
  private: file("signing-key.pem", ed.privatePem),
  public: file("signing-key.pem.pub", ed.publicPem),
  rsaPublic: file("rsa.pub", rsa.publicKey.export({ type: "spki", format: "pem" }).toString()),
  garbage: file("garbage.pem", "not a key\n"),
};
const policies = mkdtempSync(join(dir, "policies-"));
const nftStub = file("nft-stub", "#!/bin/sh\n");
chmodSync(nftStub, 0o755);

const agent = (flags: Record<string, unknown>) => parseConfig(AgentConfig, { nats: "nats://127.0.0.1:4222", hostId: "h1", stateDir: dir, nft: nftStub, ...flags });
const controller = (flags: Record<string, unknown>) => parseConfig(ControllerConfig, { nats: "127.0.0.1:4222", source: `dir:${policies}`, identity: "c", signingKey: keys.private, ...flags });

describe("flags", () => {
  it.each([
    ["nats://127.0.0.1:4222", undefined],
    ["tls://nats.example:4222", undefined],
    ["198.18.0.1:4222", undefined],
    ["[2001:db8::1]:4222", undefined],
    ["foo", '"foo" is not a NATS URL'],
    ["http://nats:4222", "the scheme must be nats, tls, ws or wss"],
    ["nats://h:4222/path", "no path or query"],
  ])("NATS server %j: %s", (url, problem) => {
    if (problem) expect(natsUrlProblem(url)).toContain(problem);
    else expect(natsUrlProblem(url)).toBeUndefined();
  });

  it.each([
    [{ heartbeat: "10" }, '--heartbeat: "10" has no unit'],
    [{ heartbeat: "20m" }, "--heartbeat: 20m is out of range: must be between 100ms and 10m"],
    [{ confirmWindow: "1.5s" }, "--confirm-window: \"1.5s\" is not a duration"],
    [{ nats: "a,foo" }, '--nats: "a" is not a NATS URL'],
  ])("the agent refuses %j", (flags, message) => expect(() => agent(flags)).toThrow(message));

  it.each([
    [{ relist: "1d", maxBan: "30d" }, { relist: 86_400_000, maxBan: 2_592_000 }],
    [{ rescan: "1h30m", statusInterval: "250ms" }, { rescan: 5_400_000, statusInterval: 250 }],
    [{}, { hostNetworks: [] }],
    [{ hostNetworks: ["198.18.0.0/15, 2001:db8::/32", "10.1.0.0/16"] }, { hostNetworks: ["198.18.0.0/15", "2001:db8::/32", "10.1.0.0/16"] }],
  ])("the controller takes %j", (flags, expected) => expect(controller(flags)).toMatchObject(expected));

  it.each([
    [{ maxBan: "30" }, '--max-ban: "30" has no unit'],
    [{ hostNetworks: ["198.18.0.0/15,10.0.0.0/33"] }, "--host-networks"],
    [{ leaseDuration: "2s", leaseRetry: "5s" }, "--lease-retry: must be shorter than --lease-duration"],
    [{ relist: "1s" }, "--relist: 1s is out of range: must be between 10s and 7d"],
  ])("the controller refuses %j", (flags, message) => {
    expect(() => controller(flags)).toThrow(ConfigError);
    expect(() => controller(flags)).toThrow(message);
  });
});

describe("{host} in the agent's seed files", () => {
  it.each([
    [{ hostId: undefined, hostIdFromNode: "a.b.c", natsNkey: "/s/agent-{host}.nk" }, { hostId: "a-b-c", natsNkey: "/s/agent-a-b-c.nk" }],
    [{ hostId: "web-1", natsCreds: "/s/{host}/{host}.creds" }, { hostId: "web-1", natsCreds: "/s/web-1/web-1.creds" }],
    [{ hostId: "web-1", natsNkey: "/s/agent.nk" }, { hostId: "web-1", natsNkey: "/s/agent.nk" }],
  ])("%j → %j", (flags, expected) => expect(agent(flags)).toMatchObject(expected));

  it("is left alone elsewhere: the controller's --nats-nkey is a path as given", () => {
    expect(controller({ natsNkey: "/s/{host}.nk" }).natsNkey).toBe("/s/{host}.nk");
  });
});

describe("--probe-listen", () => {
  it.each([
    ["agent", { listen: "127.0.0.1:9475", probeListen: "10.0.0.4:9476" }],
    ["agent", { listen: "10.0.0.4:9475", probeListen: "127.0.0.1:9475" }],
    ["controller", { listen: "0.0.0.0:8080", probeListen: "0.0.0.0:8081" }],
    ["controller", { listen: "127.0.0.1:0", probeListen: "127.0.0.1:0" }],
  ])("the %s takes %j", (kind, flags) => expect((kind === "agent" ? agent : controller)(flags)).toMatchObject(flags));

  it("is off unless given", () => {
    expect(agent({}).probeListen).toBeUndefined();
    expect(controller({}).probeListen).toBeUndefined();
  });

  it.each([
    ["agent", { probeListen: "9476" }, "--probe-listen: must be HOST:PORT"],
    ["agent", { listen: "127.0.0.1:9475", probeListen: "127.0.0.1:9475" }, "--probe-listen: must not take --listen's port"],
    ["controller", { listen: "0.0.0.0:8080", probeListen: "10.0.0.4:8080" }, "--probe-listen: must not take --listen's port"],
    ["controller", { listen: "10.0.0.4:8081", probeListen: ":8081" }, "--probe-listen: must not take --listen's port"],
  ])("the %s refuses %j", (kind, flags, message) => {
    const parse = () => (kind === "agent" ? agent : controller)(flags);
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(message);
  });
});

describe("--check-config", () => {
  it("passes a configuration whose files exist and parse", async () => {
    expect(await checkAgentConfig(agent({ controllerKey: keys.public }))).toEqual([]);
    expect(await checkControllerConfig(controller({}))).toEqual([]);
    // a signing key not there yet is created on first start
    expect(await checkControllerConfig(controller({ signingKey: join(dir, "new", "key.pem") }))).toEqual([]);
  });

  it.each([
    [{ controllerKey: "/nonexistent.pub" }, "--controller-key: /nonexistent.pub: no such file"],
    [{ controllerKey: keys.private }, "is a private key: give the public one (.pub)"],
    [{ controllerKey: keys.rsaPublic }, "is a rsa key, not Ed25519"],
    [{ controllerKey: keys.garbage }, "is not a PEM public key"],
    [{ natsCa: "/nonexistent-ca.pem" }, "--nats-ca: /nonexistent-ca.pem: no such file"],
    [{ stateDir: keys.public }, "--state-dir: " ],
    [{ nft: "/nonexistent/nft" }, "--nft: /nonexistent/nft is not an executable"],
  ])("the agent: %j", async (flags, message) => {
    expect((await checkAgentConfig(agent(flags))).join("\n")).toContain(message);
  });

  it.each([
    [{ source: "dir:/nonexistent" }, "--source: /nonexistent: no such directory"],
    [{ signingKey: keys.garbage }, "is not a PEM private key"],
    [{ signingKey: keys.public }, "is not a PEM private key"],
    [{ kubeconfig: keys.garbage }, "--kubeconfig: " ],
  ])("the controller: %j", async (flags, message) => {
    expect((await checkControllerConfig(controller(flags))).join("\n")).toContain(message);
  });

  it("names an invalid manifest in the policy directory by file and field", async () => {
    writeFileSync(join(policies, "bad.yaml"), "apiVersion: fleetwall.io/v1alpha1\nkind: FirewallPolicy\nmetadata: {name: bad}\nspec:\n  hostSelector: {}\n  ingress: [{name: r, action: Allow, protocol: tcp, ports: [70000]}]\n");
    expect(await checkControllerConfig(controller({}))).toEqual([expect.stringMatching(/^--source: bad\.yaml: FirewallPolicy bad: spec\.ingress\[0\]\.ports\[0\]: /)]);
    rmSync(join(policies, "bad.yaml"));
  });
});
