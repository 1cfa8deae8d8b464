import { sh, shQuiet } from "./sh.js";
import { takeSlot } from "./slot.js";

export interface NetHost {
  /** Network namespace name. */
  ns: string;
  ip4: string;
  ip6: string;
}

export interface TestNet {
  slot: number;
  bridge: string;
  /** The bridge's addresses in the root namespace (where NATS and the controller listen). */
  gw4: string;
  gw6: string;
  hosts: NetHost[];
  client: NetHost;
  /** A second IPv4 address of the client namespace, to act as another source. */
  client2: string;
  /** Runs a command inside a namespace. */
  exec(ns: string, argv: string[], input?: string): Promise<string>;
  destroy(): Promise<void>;
}

/**
 * An "internal network" source the example policies name (198.18.0.0/24): the client also carries
 * 198.18.0.200 and every host routes 198.18.0.0/24 onto its own segment. Slot numbers start at 1, so
 * no test bridge in the root namespace ever holds 198.18.0.0/24.
 */
export const INTERNAL_NET = "198.18.0.0/24";
export const INTERNAL_CLIENT = "198.18.0.200";

/** Attacker address number `a` (1-based); each test network is its own segment, so they may repeat across tests. */
export const attacker = (a: number): string => `203.0.113.${10 + a}`;

const v6 = (slot: number, host: number) => `2001:db8:${slot.toString(16)}::${host.toString(16)}`;

/**
 * N host namespaces and one client namespace, each joined by a veth pair to a bridge in the root
 * namespace: 198.18.<slot>.0/24 and 2001:db8:<slot>::/64; hosts at .11, .12, …, the client at
 * .200, which also carries attacker addresses from 203.0.113.0/24 when asked. Everything is removed
 * by destroy(), which also kills whatever still runs in the namespaces.
 */
export async function createTestNet(hostCount: number, options: { attackers?: number } = {}): Promise<TestNet> {
  const { slot, release } = takeSlot();
  const prefix = `fw${slot}`;
  const bridge = `${prefix}br`;
  const names = [...Array.from({ length: hostCount }, (_, i) => `${prefix}-h${i + 1}`), `${prefix}-c`];
  const net: TestNet = {
    slot,
    bridge,
    gw4: `198.18.${slot}.1`,
    gw6: v6(slot, 1),
    hosts: names.slice(0, hostCount).map((ns, i) => ({ ns, ip4: `198.18.${slot}.${11 + i}`, ip6: v6(slot, 0x11 + i) })),
    client: { ns: `${prefix}-c`, ip4: `198.18.${slot}.200`, ip6: v6(slot, 0x200) },
    client2: `198.18.${slot}.201`,
    exec: (ns, argv, input) => sh("ip", ["netns", "exec", ns, ...argv], input === undefined ? {} : { input }),
    async destroy() {
      for (const ns of names) await killNamespace(ns);
      await removeRootLinks(prefix, bridge);
      release();
    },
  };
  await removeLeftovers(prefix, bridge);
  try {
    await sh("ip", ["link", "add", bridge, "type", "bridge"]);
    await sh("ip", ["addr", "add", `${net.gw4}/24`, "dev", bridge]);
    await sh("ip", ["-6", "addr", "add", `${net.gw6}/64`, "dev", bridge, "nodad"]);
    await sh("ip", ["link", "set", bridge, "up"]);
    const all = [...net.hosts, net.client];
    for (const [i, h] of all.entries()) {
      const veth = `${prefix}v${i}`;
      await sh("ip", ["netns", "add", h.ns]);
      await sh("ip", ["link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h.ns]);
      await sh("ip", ["link", "set", veth, "master", bridge, "up"]);
      await net.exec(h.ns, ["ip", "link", "set", "lo", "up"]);
      await net.exec(h.ns, ["ip", "addr", "add", `${h.ip4}/24`, "dev", "eth0"]);
      await net.exec(h.ns, ["ip", "-6", "addr", "add", `${h.ip6}/64`, "dev", "eth0", "nodad"]);
      await net.exec(h.ns, ["ip", "link", "set", "eth0", "up"]);
      await net.exec(h.ns, ["ip", "route", "add", "203.0.113.0/24", "dev", "eth0"]);
      if (h !== net.client) await net.exec(h.ns, ["ip", "route", "add", INTERNAL_NET, "dev", "eth0"]);
    }
    await net.exec(net.client.ns, ["ip", "addr", "add", `${net.client2}/24`, "dev", "eth0"]);
    await net.exec(net.client.ns, ["ip", "addr", "add", INTERNAL_CLIENT, "dev", "eth0"]);
    for (let a = 1; a <= (options.attackers ?? 0); a += 1) {
      await net.exec(net.client.ns, ["ip", "addr", "add", attacker(a), "dev", "eth0"]);
    }
    return net;
  } catch (e) {
    await net.destroy();
    throw e;
  }
}

async function killNamespace(ns: string): Promise<void> {
  const pids = (await sh("ip", ["netns", "pids", ns]).catch(() => "")).split(/\s+/).filter(Boolean);
  for (const pid of pids) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {
      // already gone
    }
  }
  await shQuiet("ip", ["netns", "del", ns]);
}

/** Removes what a crashed earlier run with the same slot left behind. */
async function removeLeftovers(prefix: string, bridge: string): Promise<void> {
  const list = await sh("ip", ["netns", "list"]).catch(() => "");
  for (const line of list.split("\n")) {
    const ns = line.split(" ")[0];
    if (ns && ns.startsWith(`${prefix}-`)) await killNamespace(ns);
  }
  await removeRootLinks(prefix, bridge);
}

/**
 * Deletes the slot's bridge and the root ends of its veth pairs. A namespace is freed by the kernel
 * only once nothing holds it, so a veth whose namespace a stuck process kept alive outlives
 * `ip netns del` and would make every later `ip link add` of its name fail with "File exists";
 * deleting the root end removes the pair at once.
 */
async function removeRootLinks(prefix: string, bridge: string): Promise<void> {
  const links = await sh("ip", ["-o", "link", "show"]).catch(() => "");
  const veth = new RegExp(`^\\d+: (${prefix}v\\d+)[@:]`);
  for (const line of links.split("\n")) {
    const name = veth.exec(line)?.[1];
    if (name) await shQuiet("ip", ["link", "del", name]);
  }
  await shQuiet("ip", ["link", "del", bridge]);
}
