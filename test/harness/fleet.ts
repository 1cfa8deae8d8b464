import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ConnectionOptions } from "@nats-io/transport-node";
import { FleetStatus } from "@fleetwall/api";
import { createTestNet, type NetHost, type TestNet } from "./netns.js";
import { freePort, startNats, startNatsCluster, type NatsServer } from "./nats.js";
import { startProc, type Proc } from "./procs.js";
import { sh, waitFor } from "./sh.js";

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, "../..");
/** The bundled CLI, as it ships (scripts/bundle.mjs): what every spawned agent, controller and command runs. */
export const CLI = join(REPO, "dist/fleetwall.mjs");
/** Where jails in test policies read logs: each agent has its own host's directory mounted there. */
export const JAIL_LOG_DIR = "/run/fleetwall-test/log";

export interface FleetHost extends NetHost {
  id: string;
  labels: string;
  stateDir: string;
  agent?: Proc;
}

export interface Fleet {
  net: TestNet;
  /** The (first) NATS server; `natsServers` holds all of a cluster. */
  nats: NatsServer;
  natsServers: NatsServer[];
  /** Every server's URL, comma-separated, as processes get it with --nats. */
  natsUrls: string;
  dir: string;
  policyDir: string;
  signingKey: string;
  hosts: FleetHost[];
  controller?: Proc;
  /** HOST:PORT of the controller's /metrics, /healthz and /readyz. */
  controllerHttp: string;
  /** GET a URL from the root namespace, or from inside a host's namespace (its agent listens on 127.0.0.1:9475). */
  httpGet(url: string, host?: FleetHost): Promise<{ status: number; body: string }>;
  /** `natsName`: the controller reaches NATS by this host name (an /etc/hosts of its own maps it to the server). */
  startController(extra?: string[], options?: { natsName?: string }): Promise<Proc>;
  /** `controllerKey: false`: without --controller-key (the agent pins, or refuses to pin, the first key seen). */
  startAgent(host: FleetHost, extra?: string[], options?: { controllerKey?: boolean }): Proc;
  /** Starts the listener script on these ports (tcp:22 udp:53) in every host namespace, or in the given ones. */
  /** Starts a private systemd-journald for this host; its agent (started after) reads that journal. */
  startJournal(host: FleetHost): Promise<void>;
  /**
   * Writes lines to the host's private journal with this SYSLOG_IDENTIFIER, as the program of that
   * name running as root (by default) would (see `journalWrite` below); `writer` makes the entries
   * another program's, or another user's.
   */
  journalWrite(host: FleetHost, identifier: string, lines: string, writer?: JournalWriter): Promise<void>;
  /** The directory an agent sees as JAIL_LOG_DIR (write its auth.log here). */
  hostLogDir(host: FleetHost): string;
  listen(specs: string[], where?: { ns: string }[]): Promise<void>;
  /** From the client namespace: which of these targets answered (tcp:HOST:PORT, udp:…, optional @SOURCE). */
  probe(targets: string[], timeoutMs?: number): Promise<Record<string, boolean>>;
  /** Like probe, from any namespace, with the outcome: open, refused (reset/unreachable) or timeout. */
  probeDetail(targets: string[], options?: { timeoutMs?: number; from?: string }): Promise<Record<string, "open" | "refused" | "timeout" | "closed">>;
  nft(host: FleetHost, args: string[], input?: string): Promise<string>;
  cli(args: string[], timeoutMs?: number): Promise<string>;
  /** `fleetwall status --json`, parsed. */
  status(): Promise<FleetStatus>;
  /** Waits until every host of the fleet is registered and in sync. */
  waitInSync(timeoutMs?: number): Promise<void>;
  writePolicy(name: string, yaml: string): void;
  destroy(): Promise<void>;
}

/**
 * A whole test fleet: network namespaces (see netns.ts), nats-server with JetStream on the bridge
 * address, a policy directory and a signing key; controller and agents are started on demand,
 * each in its own process, agents inside their host namespaces. destroy() removes everything.
 */
export interface FleetOptions {
  attackers?: number;
  /** nats-server configuration added to the defaults (authorization, TLS), its URL scheme, and the flags the harness's own CLI calls (status) need. */
  /** `connect`: how the harness's own checks of a cluster connect (the credentials `config` asks for). */
  nats?: { config?: string | ((serverAddress: string) => string); scheme?: string; clientArgs?: string[]; cluster?: number; connect?: Partial<ConnectionOptions> };
}

export async function createFleet(hosts: { id: string; labels: string }[], options: FleetOptions = {}): Promise<Fleet> {
  const net = await createTestNet(hosts.length, options);
  const dir = mkdtempSync(join(tmpdir(), `fleetwall-fleet${net.slot}-`));
  const procs: Proc[] = [];
  let controllers = 0;
  let natsServers: NatsServer[];
  try {
    const config = options.nats?.config;
    const clusterConfig = typeof config === "function" ? config(net.gw4) : config;
    natsServers = options.nats?.cluster ? await startNatsCluster({ host: net.gw4, logDir: join(dir, "logs"), size: options.nats.cluster, ...(clusterConfig ? { config: clusterConfig } : {}), ...(options.nats.connect ? { connect: options.nats.connect } : {}) }) : [await startNats({ host: net.gw4, logDir: join(dir, "logs"), ...(config ? { config: typeof config === "string" ? config : config(net.gw4) } : {}), ...(options.nats?.scheme ? { scheme: options.nats.scheme } : {}) })];
  } catch (e) {
    await net.destroy();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const policyDir = join(dir, "policies");
  const journals = new Set<string>();
  // a host's private journal: its runtime sockets at /run/systemd, its files under /var/log/journal
  const journalBinds = (host: { id: string }): [string, string][] => [
    [join(dir, "journal", host.id, "run"), "/run/systemd"],
    [join(dir, "journal", host.id, "varlog"), "/var/log"],
  ];
  mkdirSync(policyDir);
  const fleet: Fleet = {
    net,
    nats: natsServers[0] as NatsServer,
    natsServers,
    natsUrls: natsServers.map((s) => s.url).join(","),
    dir,
    policyDir,
    signingKey: join(dir, "controller", "signing-key.pem"),
    hosts: hosts.map((h, i) => ({ ...(net.hosts[i] as NetHost), id: h.id, labels: h.labels, stateDir: join(dir, "state", h.id) })),
    controllerHttp: "",
    async startController(extra = [], options = {}) {
      fleet.controllerHttp ||= `127.0.0.1:${await freePort()}`;
      // each controller process its own log (a standby replica, a restart)
      const name = controllers++ === 0 ? "controller" : `controller-${controllers}`;
      let nats = fleet.natsUrls;
      let wrap = (argv: string[]) => argv;
      if (options.natsName) {
        const hostsFile = join(dir, "controller-hosts");
        writeFileSync(hostsFile, `127.0.0.1 localhost\n${natsServers[0]?.host} ${options.natsName}\n`);
        nats = natsServers.map((s) => s.url.replace(s.host, options.natsName as string)).join(",");
        wrap = (argv) => withBinds([[hostsFile, "/etc/hosts"]], argv);
      }
      const proc = startProc(name, wrap(["node", CLI, "controller", "--nats", nats, "--source", `dir:${policyDir}`, "--signing-key", fleet.signingKey, "--listen", fleet.controllerHttp, "--log-level", "debug", ...extra]), join(dir, "logs"));
      procs.push(proc);
      fleet.controller = proc;
      await waitFor("the controller's signing key", () => existsSync(`${fleet.signingKey}.pub`), 30_000);
      return proc;
    },
    startAgent(host, extra = [], options = {}) {
      // each agent sees its own host's log directory at JAIL_LOG_DIR, through a private mount namespace
      mkdirSync(JAIL_LOG_DIR, { recursive: true });
      mkdirSync(fleet.hostLogDir(host), { recursive: true });
      const agentArgv = ["node", CLI, "agent", "--nats", fleet.natsUrls, "--host-id", host.id, "--labels", host.labels, "--state-dir", host.stateDir, ...(options.controllerKey === false ? [] : ["--controller-key", `${fleet.signingKey}.pub`]), "--heartbeat", "1s", "--drift-interval", "1s", "--log-level", "debug", ...extra];
      const binds: [string, string][] = [[fleet.hostLogDir(host), JAIL_LOG_DIR]];
      if (journals.has(host.id)) binds.push(...journalBinds(host));
      const argv = ["ip", "netns", "exec", host.ns, ...withBinds(binds, agentArgv)];
      const proc = startProc(`agent-${host.id}`, argv, join(dir, "logs"));
      procs.push(proc);
      host.agent = proc;
      return proc;
    },
    async listen(specs, where = fleet.hosts) {
      for (const { ns } of where) {
        const proc = startProc(`listen-${ns}-${specs.join("_").replace(/:/g, "")}`, ["ip", "netns", "exec", ns, "node", join(here, "listen.mjs"), ...specs], join(dir, "logs"));
        procs.push(proc);
        await waitFor(`listeners in ${ns}`, () => proc.log().includes("ready"), 30_000);
      }
    },
    async probe(targets, timeoutMs = 700) {
      const detail = await fleet.probeDetail(targets, { timeoutMs });
      return Object.fromEntries(Object.entries(detail).map(([k, v]) => [k, v === "open"]));
    },
    async probeDetail(targets, { timeoutMs = 700, from = net.client.ns } = {}) {
      const out = await net.exec(from, ["node", join(here, "probe.mjs"), String(timeoutMs), ...targets]);
      return JSON.parse(out) as Record<string, "open" | "refused" | "timeout" | "closed">;
    },
    async httpGet(url, host) {
      const script = `fetch(${JSON.stringify(url)}).then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.text() })), () => console.log(JSON.stringify({ status: 0, body: "" })))`;
      const out = host ? await net.exec(host.ns, ["node", "-e", script]) : await sh("node", ["-e", script]);
      return JSON.parse(out) as { status: number; body: string };
    },
    hostLogDir: (host) => join(dir, "hostlogs", host.id),
    async startJournal(host) {
      const root = join(dir, "journal", host.id);
      mkdirSync(join(root, "run"), { recursive: true });
      mkdirSync(join(root, "varlog", "journal"), { recursive: true });
      mkdirSync("/run/systemd", { recursive: true });
      journals.add(host.id);
      const proc = startProc(`journald-${host.id}`, withBinds(journalBinds(host), ["/lib/systemd/systemd-journald"]), join(dir, "logs"));
      procs.push(proc);
      await waitFor("journald socket", () => existsSync(join(root, "run", "journal", "stdout")), 30_000);
    },
    async journalWrite(host, identifier, lines, writer = {}) {
      // journald records the writer's kernel credentials (_COMM, _EXE, _UID), which no client sets,
      // and an sshd jail counts only entries sshd itself wrote by those (agent/src/journal-follower.ts,
      // sshdEntry), never by the SYSLOG_IDENTIFIER anyone chooses. So systemd-cat (which connects
      // its command's output to the journal) runs a copy of sh named after the program (comm
      // "sshd"), as root like sshd's monitor; a test of forged entries names another program or a
      // user. journald takes the credentials of the process that wrote each line (so the shell
      // writes them with its builtins, not a cat it would start) and reads _COMM from /proc when it
      // handles the line, so the writer outlives its lines a little (an exited writer's entries
      // have no _COMM, and would not count).
      const program = writer.program ?? identifier;
      if (!/^[\w.-]+$/.test(program)) throw new Error(`journal writer program ${JSON.stringify(program)} is not a plain name`);
      const bin = join(dir, "journal-writers", program);
      if (!existsSync(bin)) {
        mkdirSync(join(dir, "journal-writers"), { recursive: true, mode: 0o755 });
        copyFileSync("/bin/sh", bin);
        chmodSync(bin, 0o755);
      }
      // another user runs the copy: the fleet's directory lets it through (not list it)
      if (writer.uid !== undefined) chmodSync(dir, 0o711);
      const user = writer.uid === undefined ? [] : ["setpriv", `--reuid=${writer.uid}`, `--regid=${writer.uid}`, "--clear-groups"];
      const [cmd, ...args] = withBinds(journalBinds(host), [...user, "systemd-cat", "-t", identifier, bin, "-c", WRITE_LINES]);
      await sh(cmd as string, args, { input: lines });
    },
    nft: (host, args, input) => net.exec(host.ns, ["nft", ...args], input),
    cli: (args, timeoutMs = 30_000) => sh("node", [CLI, ...args], { timeoutMs }),
    status: async () => FleetStatus.parse(JSON.parse(await fleet.cli(["status", "--nats", fleet.natsUrls, "--json", ...(options.nats?.clientArgs ?? [])]))),
    async waitInSync(timeoutMs = 30_000) {
      await waitFor("every host in sync", async () => {
        const s = await fleet.status();
        return s.hosts.length === fleet.hosts.length && s.hosts.every((h) => h.inSync);
      }, timeoutMs, 100);
    },
    writePolicy(name, yaml) {
      const tmp = join(policyDir, `.${name}.tmp`);
      writeFileSync(tmp, yaml);
      renameSync(tmp, join(policyDir, name));
    },
    async destroy() {
      await Promise.all(procs.map((p) => p.kill()));
      for (const s of natsServers) await s.stop().catch(() => undefined);
      await net.destroy();
      for (const s of natsServers) rmSync(s.storeDir, { recursive: true, force: true });
      if (!process.env.FLEETWALL_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
    },
  };
  return fleet;
}

/** argv that runs `argv` in a private mount namespace with these bind mounts (source, target). */
/** A shell script copying its input with builtins only, then waiting a little (`journalWrite`). */
const WRITE_LINES = `while IFS= read -r l; do printf '%s\\n' "$l"; done; sleep 2`;

/** Who writes journal entries: its program name (the kernel's comm: the entries' `_COMM`) and uid. */
export interface JournalWriter {
  program?: string;
  uid?: number;
}

function withBinds(binds: [string, string][], argv: string[]): string[] {
  const script = `${binds.map((_, i) => `mount --bind "$${2 * i + 1}" "$${2 * i + 2}"`).join(" && ")} && shift ${2 * binds.length} && exec "$@"`;
  return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", ...binds.flat(), ...argv];
}
