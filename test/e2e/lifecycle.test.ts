import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, createFleet, type Fleet, type FleetHost } from "../harness/fleet.js";
import { freePort } from "../harness/nats.js";
import { startKubeApi, type KubeApi } from "../harness/kube.js";
import { logEntries } from "../harness/log-times.js";
import { waitFor } from "../harness/sh.js";

// Every way a controller or an agent is started wrong, or stopped in any state, ends the same way:
// within 5 s, with exit code 0 for a clean SIGTERM, and otherwise a non-zero code and one line on
// stderr that says why. An agent stopped in any state leaves its nftables tables whole.

const EXIT_WITHIN_MS = 5_000;

const WEB = `apiVersion: fleetwall.io/v1alpha1
kind: FirewallPolicy
metadata: {name: web}
spec:
  hostSelector: {matchLabels: {role: web}}
  ingress:
    - {name: ssh, action: Allow, protocol: tcp, ports: [22]}
`;

interface Run {
  log: () => string;
  stderr: () => string;
  /** Resolves with the exit code and how long the process took to exit after `since` was set. */
  exited: Promise<number | null>;
  sigterm(): Promise<{ code: number | null; ms: number }>;
  /** Waits for the exit (a failure at start) and measures from the process's first log line. */
  exit(): Promise<{ code: number | null; ms: number }>;
}

/** Spawns a process with stdout (its JSON log) and stderr kept apart. */
function run(argv: string[]): Run {
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const startedAt = Date.now();
  let exitAt = 0;
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      exitAt = Date.now();
      resolve(code);
    }),
  );
  const timed = async (from: () => number) => {
    // a process that never exits fails the test by its duration, and is killed so nothing is left
    const killer = setTimeout(() => child.kill("SIGKILL"), EXIT_WITHIN_MS + 10_000);
    const code = await exited;
    clearTimeout(killer);
    return { code, ms: exitAt - from() };
  };
  return {
    log: () => out,
    stderr: () => err,
    exited,
    async sigterm() {
      const from = Date.now();
      child.kill("SIGTERM");
      return timed(() => from);
    },
    // from the process's first log line (its own clock, the machine's): loading node and the bundle,
    // seconds on a loaded machine, is not the process's doing; a hang before any line is killed above
    exit: () => timed(() => logEntries(out)[0]?.time ?? startedAt),
  };
}

const hasLog = (r: Run, msg: string) => r.log().includes(`"msg":"${msg}"`);
const untilLogged = (r: Run, msg: string, timeoutMs = 30_000) =>
  waitFor(`log "${msg}"`, () => {
    if (r.stderr().length > 0 && !hasLog(r, msg)) throw new Error(`failed instead: ${r.stderr()}`);
    return hasLog(r, msg);
  }, timeoutMs, 50);

/**
 * A clean stop: exit 0 in time, nothing on stderr, and no handle left holding the process. Only a
 * NATS connection attempt that is in flight cannot be cancelled (nats.js has no way to): the process
 * exits past it, and says so.
 */
function expectCleanStop(r: Run, result: { code: number | null; ms: number }, connectInFlight = false): void {
  expect(r.stderr()).toBe("");
  expect(result.code).toBe(0);
  expect(result.ms).toBeLessThan(EXIT_WITHIN_MS);
  expect(hasLog(r, "stopped")).toBe(true);
  // timers or sockets left referenced after shutdown would keep the process alive: it says so
  expect(hasLog(r, "process kept alive after shutdown; exiting")).toBe(connectInFlight);
}

/** A failure: a non-zero code in time and exactly one line on stderr, containing `reason`. */
function expectFailure(r: Run, result: { code: number | null; ms: number }, reason: string): void {
  expect(result.code).not.toBe(0);
  expect(result.code).not.toBe(null);
  expect(result.ms).toBeLessThan(EXIT_WITHIN_MS);
  const lines = r.stderr().split("\n").filter(Boolean);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toContain(reason);
}

/** Holds a TCP port, so a process told to listen there finds it busy. */
async function busyPort(): Promise<{ listen: string; close: () => void }> {
  const port = await freePort();
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { listen: `127.0.0.1:${port}`, close: () => server.close() };
}

describe("process lifecycle", () => {
  let fleet: Fleet;
  let host: FleetHost;
  let refused: string;
  /** An address on the test segment no host has: a connection attempt there waits until it times out. */
  let blackhole: string;
  let n = 0;

  const controller = async (extra: string[], nats = fleet.natsUrls, source = `dir:${fleet.policyDir}`) =>
    run(["node", CLI, "controller", "--nats", nats, "--source", source, "--signing-key", fleet.signingKey, "--listen", `127.0.0.1:${await freePort()}`, "--log-level", "debug", ...extra]);
  const agent = (extra: string[], nats = fleet.natsUrls, stateDir = join(fleet.dir, "lifecycle", `agent-${++n}`)) =>
    run(["ip", "netns", "exec", host.ns, "node", CLI, "agent", "--nats", nats, "--host-id", host.id, "--labels", host.labels, "--state-dir", stateDir, "--heartbeat", "1s", "--log-level", "debug", ...extra]);
  const tables = async () => (await fleet.nft(host, ["list", "tables"])).split("\n").filter((l) => l.includes("fleetwall")).sort();
  // our tables, each as listed without set elements and without counter values (which count
  // traffic), in the order of their names (a table replaced by an apply is listed last by nft)
  const listing = async (table?: string) => {
    const names = table ? [table] : (await tables()).map((t) => t.split(" ")[2] as string);
    const listed = await Promise.all(names.map((t) => fleet.nft(host, ["-t", "list", "table", "inet", t]).catch(() => "")));
    return listed.join("").replace(/packets \d+ bytes \d+/g, "");
  };
  let bansTableAtStart = "";

  beforeAll(async () => {
    fleet = await createFleet([{ id: "life1", labels: "role=web" }]);
    host = fleet.hosts[0] as FleetHost;
    refused = `nats://127.0.0.1:${await freePort()}`;
    blackhole = `nats://198.18.${fleet.net.slot}.250:4222`;
    fleet.writePolicy("web.yaml", WEB);
  });

  afterAll(async () => {
    await fleet?.destroy();
  });

  describe("the controller", () => {
    it("exits 1 with one line naming a policy directory that does not exist", async () => {
      const r = await controller([], fleet.natsUrls, "dir:/typo-fleetwall");
      expectFailure(r, await r.exit(), "/typo-fleetwall");
      expect(r.stderr()).toContain("ENOENT");
    });

    it("exits 1 with one line when its --listen port is taken", async () => {
      const port = await busyPort();
      try {
        const r = await controller(["--listen", port.listen]);
        expectFailure(r, await r.exit(), "EADDRINUSE");
      } finally {
        port.close();
      }
    });

    it("stops on SIGTERM while NATS refuses connections (starting)", async () => {
      const r = await controller([], refused);
      await untilLogged(r, "NATS not reachable; retrying");
      expectCleanStop(r, await r.sigterm());
    });

    it("stops on SIGTERM while a connection attempt is in progress to a server that never answers", async () => {
      const r = await controller([], blackhole);
      await untilLogged(r, "connecting to NATS");
      expectCleanStop(r, await r.sigterm(), true);
    });

    it("stops on SIGTERM when running, and when NATS has gone away", async () => {
      const r = await controller([]);
      await untilLogged(r, "controller started");
      expectCleanStop(r, await r.sigterm());

      const again = await controller([]);
      await untilLogged(again, "controller started");
      await fleet.nats.stop();
      try {
        await untilLogged(again, "NATS connection lost");
        expectCleanStop(again, await again.sigterm());
      } finally {
        await fleet.nats.restart();
      }
    });
  });

  describe("the agent", () => {

    it("exits 1 with one line when its state directory cannot be made", async () => {
      const file = join(fleet.dir, "not-a-directory");
      writeFileSync(file, "");
      const r = agent([], fleet.natsUrls, join(file, "state"));
      expectFailure(r, await r.exit(), "ENOTDIR");
    });

    it("exits 1 with one line when its --listen port is taken (in its namespace)", async () => {
      // the agent listens inside its namespace: hold the port there
      const port = 9500 + fleet.net.slot;
      const holder = spawn("ip", ["netns", "exec", host.ns, "node", "-e", `require("net").createServer().listen(${port}, "127.0.0.1", () => console.log("held"))`], { stdio: ["ignore", "pipe", "ignore"] });
      try {
        await new Promise((resolve) => holder.stdout.once("data", resolve));
        const r = agent(["--listen", `127.0.0.1:${port}`]);
        expectFailure(r, await r.exit(), "EADDRINUSE");
      } finally {
        holder.kill("SIGKILL");
      }
    });

    it("answers /healthz on --probe-listen (and nothing else there), and exits 1 with one line when that port is taken", async () => {
      const port = 9600 + fleet.net.slot;
      const inNs = (code: string) =>
        new Promise<string>((resolve) => {
          const p = spawn("ip", ["netns", "exec", host.ns, "node", "-e", code], { stdio: ["ignore", "pipe", "ignore"] });
          let out = "";
          p.stdout.on("data", (d) => (out += String(d)));
          p.once("close", () => resolve(out.trim()));
        });
      const get = (path: string) => inNs(`fetch("http://127.0.0.1:${port}${path}").then((r) => console.log(r.status), (e) => console.log(String(e)))`);
      const r = agent(["--probe-listen", `127.0.0.1:${port}`]);
      await untilLogged(r, "agent connected");
      expect(await get("/healthz")).toBe("200");
      expect(await get("/metrics")).toBe("404");
      expectCleanStop(r, await r.sigterm());

      const holder = spawn("ip", ["netns", "exec", host.ns, "node", "-e", `require("net").createServer().listen(${port}, "127.0.0.1", () => console.log("held"))`], { stdio: ["ignore", "pipe", "ignore"] });
      try {
        await new Promise((resolve) => holder.stdout.once("data", resolve));
        const taken = agent(["--probe-listen", `127.0.0.1:${port}`]);
        expectFailure(taken, await taken.exit(), "--probe-listen");
        expect(taken.stderr()).toContain("EADDRINUSE");
      } finally {
        holder.kill("SIGKILL");
      }
    });

    it("stops on SIGTERM while NATS refuses connections, and while a connection attempt hangs", async () => {
      for (const nats of [refused, blackhole]) {
        const r = agent([], nats);
        await untilLogged(r, nats === refused ? "NATS not reachable; retrying" : "connecting to NATS");
        expectCleanStop(r, await r.sigterm(), nats === blackhole);
      }
      // what it made while starting is whole: the bans table (compared with a running agent's below)
      // and no policy table, as it had none to restore
      expect(await tables()).toEqual(["table inet fleetwall_bans"]);
      bansTableAtStart = await listing("fleetwall_bans");
    });

    it("stops on SIGTERM while it waits for the controller's first key (no --controller-key, no controller)", async () => {
      // the buckets exist (a controller made them), but no controller runs: no key is ever offered
      const c = await controller([]);
      await untilLogged(c, "controller started");
      await c.sigterm();
      const r = agent([]);
      await untilLogged(r, "registered");
      expectCleanStop(r, await r.sigterm());
    });

    it("stops on SIGTERM when running, leaving its tables exactly as they were", async () => {
      const c = await controller([]);
      try {
        await untilLogged(c, "controller started");
        const stateDir = join(fleet.dir, "lifecycle", "running");
        mkdirSync(stateDir, { recursive: true });
        const r = agent(["--controller-key", `${fleet.signingKey}.pub`], fleet.natsUrls, stateDir);
        await untilLogged(r, "ruleset applied");
        const complete = await listing();
        expect(complete).toContain("table inet fleetwall {");
        expect(await listing("fleetwall_bans")).toBe(bansTableAtStart);
        expectCleanStop(r, await r.sigterm());
        expect(await listing()).toBe(complete);

        // and during a NATS outage: the same tables stay (fail static), the agent still stops in time
        const again = agent(["--controller-key", `${fleet.signingKey}.pub`], fleet.natsUrls, stateDir);
        await untilLogged(again, "registered");
        await fleet.nats.stop();
        try {
          await untilLogged(again, "NATS connection lost");
          expectCleanStop(again, await again.sigterm());
          expect(await listing()).toBe(complete);
        } finally {
          await fleet.nats.restart();
        }
      } finally {
        await c.sigterm();
      }
    });

    it("stops on SIGTERM while an apply waits for the bus to confirm it, restoring the confirmed ruleset", async () => {
      const c = await controller([]);
      const stateDir = join(fleet.dir, "lifecycle", "confirm");
      try {
        await untilLogged(c, "controller started");
        // no failsafe for the agent's own NATS connection: a policy without the established baseline
        // then cuts the agent off the bus, and commit-confirm waits its whole window for an answer
        const r = agent(["--controller-key", `${fleet.signingKey}.pub`, "--no-nats-failsafe", "--confirm-window", "60s"], fleet.natsUrls, stateDir);
        await untilLogged(r, "ruleset applied");
        // the policy table: the bans table is built on its own, once the bans bucket has been read
        const confirmed = await listing("fleetwall");
        fleet.writePolicy("web.yaml", WEB.replace("hostSelector:", "baseline: {established: false}\n  hostSelector:"));
        // the second apply's wait (the first apply was confirmed at once)
        await waitFor("the lockout applied and waiting for confirmation", () => r.log().split('"msg":"waiting for the bus to confirm the ruleset"').length > 2, 30_000);
        expect(await listing("fleetwall")).not.toBe(confirmed);
        expectCleanStop(r, await r.sigterm());
        expect(await listing("fleetwall")).toBe(confirmed);
      } finally {
        fleet.writePolicy("web.yaml", WEB);
        await c.sigterm();
      }
    });
  });

  describe("the controller on Kubernetes, as leader", () => {
    const NS = "fleetwall-life";
    let api: KubeApi;
    const holder = async (name: string) => ((await api.get(`/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`, name))?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
    const kubeController = async (name: string, signingKey: string) =>
      run(["node", CLI, "controller", "--source", "kube", "--kubeconfig", api.kubeconfig, "--lease-namespace", NS, "--lease-name", name, "--identity", "life-a", "--lease-retry", "200ms", "--nats", fleet.natsUrls, "--signing-key", signingKey, "--listen", `127.0.0.1:${await freePort()}`, "--log-level", "debug"]);

    beforeAll(async () => {
      api = await startKubeApi();
      await api.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS } });
    });

    afterAll(async () => {
      await api?.stop();
    });

    it("a leader whose work fails stops leading: the Lease is given up, and the process exits 1 with one line", async () => {
      // a directory where the signing key should be: the leader's start fails after it won the Lease
      const notAKey = join(fleet.dir, "lifecycle", "key-is-a-directory");
      mkdirSync(notAKey, { recursive: true });
      const r = await kubeController("fails", notAKey);
      const result = await r.exit();
      expect(hasLog(r, "leader election won")).toBe(true);
      expectFailure(r, { ...result, ms: 0 }, "signing key");
      expect(r.stderr()).toContain("EISDIR");
      expect(await holder("fails")).toBeUndefined();
    });

    it("a leader stopped by SIGTERM gives the Lease up and exits 0", async () => {
      const r = await kubeController("clean", join(fleet.dir, "lifecycle", "kube-key.pem"));
      await untilLogged(r, "leader election won");
      await untilLogged(r, "connecting to NATS");
      expect(await holder("clean")).toBe("life-a");
      expectCleanStop(r, await r.sigterm());
      expect(await holder("clean")).toBeUndefined();
    });
  });
});
