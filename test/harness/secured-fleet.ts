import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, nkeyAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { agentInboxPrefix } from "@fleetwall/api";
import { CLI, JAIL_LOG_DIR, createFleet, type Fleet, type FleetHost } from "./fleet.js";
import { sh, waitFor } from "./sh.js";
import { detectedBy, enforcedOn, loggedAt } from "./log-times.js";
import { syslogStamp } from "./log-stamp.js";

/** A policy with an sshd jail that shares its bans (maxRetry 2), on every host. */
export const JAIL_POLICY = `apiVersion: fleetwall.io/v1alpha1
kind: FirewallPolicy
metadata: {name: base}
spec:
  hostSelector: {}
  defaultInput: Accept
  jails:
    - name: sshd
      filter: sshd
      source: {file: ${JAIL_LOG_DIR}/auth.log}
      maxRetry: 2
      share: Fleet
`;

export interface SecuredFleet {
  fleet: Fleet;
  creds: string;
  /** A connection from the test process with one of the generated identities (controller, operator, agent-<id>). */
  as(name: string): Promise<NatsConnection>;
  /** The operator's CLI flags. */
  operator: string[];
  banned(h: FleetHost, addr: string): Promise<boolean>;
  /**
   * Two sshd failures from `addr` on `from`; resolves with the ms from `from`'s detection to `to`'s
   * enforcement of the fleet ban, as the two agents logged them (one clock: the same machine), so
   * the test's own polling and the tail of the log file on a loaded machine are not counted.
   */
  detect(from: FleetHost, to: FleetHost, addr: string): Promise<number>;
  destroy(): Promise<void>;
}

/** The documented secured deployment: `fleetwall nats-auth`, one nkey per process, the controller's key pinned on agents. */
/** `cluster`: that many NATS servers in one JetStream cluster (the controller then needs `--replicas`). */
export async function securedFleet(ids: string[], options: { attackers?: number; policy?: string; controller?: string[] | ((fleet: Fleet) => string[]); natsName?: string; agent?: (h: FleetHost) => string[]; cluster?: number } = {}): Promise<SecuredFleet> {
  const creds = mkdtempSync(join(tmpdir(), "fleetwall-trust-"));
  const seed = (name: string) => join(creds, `${name}.nk`);
  await sh("node", [CLI, "nats-auth", ...ids.flatMap((id) => ["--host", id]), "--out", creds]);
  const fleet = await createFleet(ids.map((id) => ({ id, labels: "role=any" })), {
    attackers: options.attackers ?? 1,
    nats: {
      config: readFileSync(join(creds, "fleetwall-auth.conf"), "utf8"),
      clientArgs: ["--nats-nkey", seed("operator")],
      ...(options.cluster ? { cluster: options.cluster, connect: { authenticator: nkeyAuthenticator(new TextEncoder().encode(readFileSync(seed("controller"), "utf8").trim())) } } : {}),
    },
  });
  const clients: NatsConnection[] = [];
  for (const h of fleet.hosts) {
    mkdirSync(fleet.hostLogDir(h), { recursive: true });
    appendFileSync(join(fleet.hostLogDir(h), "auth.log"), "");
  }
  fleet.writePolicy("base.yaml", options.policy ?? JAIL_POLICY);
  await fleet.startController(["--nats-nkey", seed("controller"), ...(typeof options.controller === "function" ? options.controller(fleet) : (options.controller ?? []))], options.natsName ? { natsName: options.natsName } : {});
  for (const h of fleet.hosts) fleet.startAgent(h, ["--nats-nkey", seed(`agent-${h.id}`), ...(options.agent?.(h) ?? [])]);
  await fleet.waitInSync();
  await waitFor("jails started", () => fleet.hosts.every((h) => h.agent?.log().includes('"jail started"')), 30_000);
  let line = 0;
  const s: SecuredFleet = {
    fleet,
    creds,
    operator: ["--nats", fleet.nats.url, "--nats-nkey", seed("operator")],
    async as(name) {
      const host = name.startsWith("agent-") ? name.slice(6) : undefined;
      const nc = await connect({ servers: fleet.nats.url, authenticator: nkeyAuthenticator(new TextEncoder().encode(readFileSync(seed(name), "utf8").trim())), ...(host ? { inboxPrefix: agentInboxPrefix(host) } : {}), timeout: 3000 });
      clients.push(nc);
      return nc;
    },
    banned: (h, addr) => fleet.nft(h, ["get", "element", "inet", "fleetwall_bans", addr.includes(":") ? "ban6" : "ban4", `{ ${addr} }`]).then(() => true, () => false),
    async detect(from, to, addr) {
      const written = Date.now();
      const lines = [0, 1].map(() => `${syslogStamp()} ${from.id} sshd[${4000 + ++line}]: Failed password for invalid user x from ${addr} port ${40000 + line} ssh2\n`).join("");
      appendFileSync(join(fleet.hostLogDir(from), "auth.log"), lines);
      // that it happens at all is waited for generously; how fast is measured by the agents' own clocks
      await waitFor(`${addr} banned on ${to.id}`, () => s.banned(to, addr), 60_000, 50);
      const detected = await waitFor(`${from.id}'s log of detecting ${addr}`, () => loggedAt(from.agent?.log() ?? "", detectedBy(addr), written), 30_000);
      const enforced = await waitFor(`${to.id}'s log of enforcing ${addr}`, () => loggedAt(to.agent?.log() ?? "", enforcedOn(addr), detected), 30_000);
      return enforced - detected;
    },
    async destroy() {
      for (const nc of clients) await nc.close().catch(() => undefined);
      await fleet.destroy();
      rmSync(creds, { recursive: true, force: true });
    },
  };
  return s;
}
