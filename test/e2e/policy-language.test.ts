import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INTERNAL_CLIENT, attacker } from "../harness/netns.js";
import { createFleet, type Fleet, type FleetHost } from "../harness/fleet.js";
import { sh, waitFor } from "../harness/sh.js";

// The contract example of the policy-language issue, as written.
const HARDENED = `apiVersion: fleetwall.io/v1alpha1
kind: FirewallPolicy
metadata:
  name: web-hardened
spec:
  hostSelector:
    matchLabels: {role: web}
  order: 100
  mode: Enforce
  defaultInput: Drop
  defaultOutput: Accept
  baseline:
    loopback: true
    established: true
    dropInvalid: true
    badTcpFlags: true
  icmp: Essential
  logDropped:
    prefix: "fleetwall drop: "
    rate: 5/minute
  ingress:
    - name: ssh
      action: Allow
      protocol: tcp
      ports: [ssh]
      rateLimit: {newConnections: 3, perSeconds: 60}
    - name: web
      action: Allow
      protocol: tcp
      ports: [http, https]
    - name: mysql-internal
      action: Allow
      protocol: tcp
      ports: [3306]
      sources: ["198.18.0.0/24", "2001:db8:1::/64"]
    - name: noisy-scanner
      action: Reject
      sources: ["203.0.113.0/24"]
  egress:
    - name: no-smtp-out
      action: Reject
      protocol: tcp
      ports: [smtp]
`;

describe("the policy language, proved with real packets", () => {
  let fleet: Fleet;
  let web: FleetHost;
  let audit: FleetHost;
  let multi: FleetHost;
  let edge: FleetHost;
  let logSetting = "0";
  const logPrefix = `fwtest${process.pid}x${Date.now() % 100000} `;

  const status = () => fleet.status();
  const counter = async (host: FleetHost, chain: string, comment: string) => {
    const text = await fleet.nft(host, ["list", "chain", "inet", "fleetwall", chain]);
    const line = text.split("\n").find((l) => l.includes(`comment "${comment}"`));
    return Number(/counter packets (\d+)/.exec(line ?? "")?.[1] ?? -1);
  };

  beforeAll(async () => {
    fleet = await createFleet(
      [
        { id: "web-1", labels: "role=web" },
        { id: "audit-1", labels: "role=audit" },
        { id: "multi-1", labels: "role=multi" },
        { id: "edge-1", labels: "role=edge" },
      ],
      { attackers: 1 },
    );
    [web, audit, multi, edge] = fleet.hosts as [FleetHost, FleetHost, FleetHost, FleetHost];
    logSetting = (await sh("sysctl", ["-n", "net.netfilter.nf_log_all_netns"])).trim();
    // kernel log lines from rules in non-initial namespaces are printed only with this on
    await sh("sysctl", ["-q", "-w", "net.netfilter.nf_log_all_netns=1"]);
    // 2222 stands for management SSH, so that the failsafe does not open port 22 itself.
    await fleet.listen(["tcp:22", "tcp:80", "tcp:443", "tcp:3306", "tcp:8080", "tcp:8081", "tcp:8082", "tcp:8083", "tcp:8084", "tcp:8085", "tcp:8086", "udp:5353"]);
    // the client listens too, for the hosts' egress rules: without them both ports would answer
    await fleet.listen(["tcp:25", "tcp:26"], [fleet.net.client]);
    fleet.writePolicy(
      "edge.yaml",
      `apiVersion: fleetwall.io/v1alpha1
kind: FirewallPolicy
metadata: {name: edge}
spec:
  hostSelector: {matchLabels: {role: edge}}
  defaultInput: Drop
  defaultOutput: Reject
  icmp: {preset: Ping, rate: 5/second}
  logDropped: {prefix: "${logPrefix}", rate: 3/minute}
  ingress:
    - {name: on-eth0, action: Allow, protocol: tcp, ports: [8084], interface: eth0}
    - {name: on-other, action: Allow, protocol: tcp, ports: [8083], interface: eth9}
    - {name: watch-8085, action: Log, protocol: tcp, ports: [8085]}
    - {name: v4-only, action: Allow, protocol: tcp, ports: [8086], destinations: ["198.18.0.0/15"], state: [new]}
    - {name: mdns-v6, action: Reject, protocol: udp, ports: [5353], sources: ["2001:db8::/32"]}
  egress:
    - {name: to-26, action: Allow, protocol: tcp, ports: [26]}
`,
    );
    const pol = (name: string, order: number, action: string, ports: string) => `apiVersion: fleetwall.io/v1alpha1
kind: FirewallPolicy
metadata: {name: ${name}}
spec:
  hostSelector: {matchLabels: {role: multi}}
  order: ${order}
  defaultInput: ${order === 10 ? "Drop" : "Accept"}
  ingress:
    - {name: r, action: ${action}, protocol: tcp, ports: ["${ports}"]}
`;
    // "zz-deny" sorts after "allow" by name but comes first by order
    fleet.writePolicy("multi.yaml", [pol("zz-deny-8080", 10, "Deny", "8080-8080"), pol("allow-high", 20, "Allow", "8000-8081"), pol("aa-deny-range", 30, "Deny", "8081-8090")].join("---\n"));
    fleet.writePolicy("hardened.yaml", HARDENED);
    fleet.writePolicy(
      "audit.yaml",
      `apiVersion: fleetwall.io/v1alpha1
kind: FirewallPolicy
metadata: {name: audit-only}
spec:
  hostSelector: {matchLabels: {role: audit}}
  mode: Audit
  defaultInput: Drop
  ingress:
    - {name: web, action: Allow, protocol: tcp, ports: [443]}
`,
    );
    await fleet.startController();
    for (const h of fleet.hosts) fleet.startAgent(h, ["--ssh-port", "2222"]);
    await fleet.waitInSync();
  });

  afterAll(async () => {
    await sh("sysctl", ["-q", "-w", `net.netfilter.nf_log_all_netns=${logSetting}`]).catch(() => undefined);
    await fleet?.destroy();
  });

  it("allows 80 and 443, drops the rest, rejects the scanner network with a reset", async () => {
    const r = await fleet.probeDetail([`tcp:${web.ip4}:80`, `tcp:${web.ip4}:443`, `tcp:${web.ip4}:8080`, `udp:${web.ip4}:5353`]);
    expect(r).toEqual({ [`tcp:${web.ip4}:80`]: "open", [`tcp:${web.ip4}:443`]: "open", [`tcp:${web.ip4}:8080`]: "timeout", [`udp:${web.ip4}:5353`]: "timeout" });
    // first match wins: the web rule comes before the scanner rule, so the scanner still reaches 443
    const scanner = await fleet.probeDetail([`tcp:${web.ip4}:443@${attacker(1)}`, `tcp:${web.ip4}:8080@${attacker(1)}`]);
    expect(scanner).toEqual({ [`tcp:${web.ip4}:443@${attacker(1)}`]: "open", [`tcp:${web.ip4}:8080@${attacker(1)}`]: "refused" });
  });

  it("opens 3306 only to the internal networks", async () => {
    const r = await fleet.probe([`tcp:${web.ip4}:3306`, `tcp:${web.ip4}:3306@${INTERNAL_CLIENT}`]);
    expect(r).toEqual({ [`tcp:${web.ip4}:3306`]: false, [`tcp:${web.ip4}:3306@${INTERNAL_CLIENT}`]: true });
  });

  it("drops the fourth new SSH connection within 60 s from one source while another source still connects", async () => {
    const from = (src: string) => fleet.probeDetail([`tcp:${web.ip4}:22@${src}`], { timeoutMs: 1500 });
    for (let i = 1; i <= 3; i += 1) expect(Object.values(await from(fleet.net.client.ip4)), `connection ${i}`).toEqual(["open"]);
    expect(Object.values(await from(fleet.net.client.ip4))).toEqual(["timeout"]);
    expect(Object.values(await from(fleet.net.client2))).toEqual(["open"]);
  });

  it("keeps IPv6 working under default drop: neighbour discovery and TCP pass, echo is not essential", async () => {
    await sh("ip", ["netns", "exec", fleet.net.client.ns, "ip", "-6", "neigh", "flush", "dev", "eth0"]);
    const r = await fleet.probe([`tcp:[${web.ip6}]:443`]);
    expect(r[`tcp:[${web.ip6}]:443`]).toBe(true);
    await expect(fleet.net.exec(fleet.net.client.ns, ["ping", "-6", "-c", "1", "-W", "1", web.ip6])).rejects.toThrow();
    // the policy's own host (audit, default accept in effect) answers ping6
    await fleet.net.exec(fleet.net.client.ns, ["ping", "-6", "-c", "1", "-W", "2", audit.ip6]);
  });

  it("drops XMAS, NULL and stray non-SYN packets before any socket sees them", async () => {
    const before = [await counter(web, "input", "baseline/xmas"), await counter(web, "input", "baseline/null")];
    await fleet.net.exec(fleet.net.client.ns, ["hping3", "-c", "3", "-i", "u10000", "-p", "443", "-F", "-S", "-R", "-P", "-A", "-U", web.ip4]).catch(() => "");
    await fleet.net.exec(fleet.net.client.ns, ["hping3", "-c", "3", "-i", "u10000", "-p", "443", web.ip4]).catch(() => "");
    const after = [await counter(web, "input", "baseline/xmas"), await counter(web, "input", "baseline/null")];
    expect(after[0]! - before[0]!).toBe(3);
    expect(after[1]! - before[1]!).toBe(3);
    // a lone ACK opens nothing: conntrack calls it invalid or new, and new TCP must be a SYN
    const stray = async () => (await counter(web, "input", "baseline/invalid")) + (await counter(web, "input", "baseline/new-not-syn"));
    const strayBefore = await stray();
    await fleet.net.exec(fleet.net.client.ns, ["hping3", "-c", "3", "-i", "u10000", "-p", "443", "-A", web.ip4]).catch(() => "");
    expect((await stray()) - strayBefore).toBe(3);
  });

  it("rejects outbound SMTP from the host", async () => {
    const before = await counter(web, "out_web-hardened", "web-hardened/no-smtp-out");
    const c = fleet.net.client.ip4;
    const r = await fleet.probeDetail([`tcp:${c}:25`, `tcp:${c}:26`], { from: web.ns, timeoutMs: 1000 });
    expect(r).toEqual({ [`tcp:${c}:25`]: "refused", [`tcp:${c}:26`]: "open" });
    expect(await counter(web, "out_web-hardened", "web-hardened/no-smtp-out")).toBe(before + 1);
  });

  // first of the edge host's tests: the log limit's burst is shared by every drop the policy logs
  it("logs dropped packets with the policy's prefix, rate-limited", async () => {
    const before = await counter(edge, "input", "default/input");
    await fleet.probe(Array.from({ length: 8 }, (_, i) => `tcp:${edge.ip4}:${9000 + i}`), 1500);
    const dropped = (await counter(edge, "input", "default/input")) - before;
    const lines = await waitFor("log lines", async () => {
      const found = (await sh("dmesg", [])).split("\n").filter((l) => l.includes(logPrefix));
      // nothing the host itself needs (IPv6 router solicitation, neighbour discovery) is among the drops
      expect(found.filter((l) => l.includes("OUT=eth0") && l.includes("PROTO=ICMPv6"))).toEqual([]);
      return found.length > 0 ? found : undefined;
    }, 15_000, 200);
    expect(lines.some((l) => l.includes(`DST=${edge.ip4}`) && /DPT=900\d/.test(l))).toBe(true);
    // 3/minute with nft's default burst of 5: far fewer lines than dropped packets (SYN retries included)
    expect(dropped).toBeGreaterThanOrEqual(8);
    expect(lines.length).toBeLessThanOrEqual(5);
  });

  it("matches the interface a packet arrives on", async () => {
    const r = await fleet.probe([`tcp:${edge.ip4}:8084`, `tcp:${edge.ip4}:8083`]);
    expect(r).toEqual({ [`tcp:${edge.ip4}:8084`]: true, [`tcp:${edge.ip4}:8083`]: false });
  });

  it("logs and goes on with a Log rule, matches destinations by family, rejects IPv6 with ICMPv6", async () => {
    const before = await counter(edge, "in_edge", "edge/watch-8085");
    const t = (h: string, p: number, proto = "tcp") => `${proto}:${h}:${p}`;
    const v6 = `[${edge.ip6}]`;
    const r = await fleet.probeDetail([t(edge.ip4, 8085), t(edge.ip4, 8086), t(v6, 8086), t(v6, 5353, "udp"), t(edge.ip4, 5353, "udp")]);
    expect(r).toEqual({
      [t(edge.ip4, 8085)]: "timeout", // logged, then dropped by the default
      [t(edge.ip4, 8086)]: "open",
      [t(v6, 8086)]: "timeout", // the rule names only IPv4 destinations
      [t(v6, 5353, "udp")]: "refused", // ICMPv6 port unreachable
      [t(edge.ip4, 5353, "udp")]: "timeout",
    });
    expect(await counter(edge, "in_edge", "edge/watch-8085")).toBeGreaterThan(before);
  });

  it("accepts loopback traffic under default drop", async () => {
    const r = await fleet.probeDetail(["tcp:127.0.0.1:80", "tcp:[::1]:80"], { from: edge.ns });
    expect(r).toEqual({ "tcp:127.0.0.1:80": "open", "tcp:[::1]:80": "open" });
  });

  it("rejects outbound traffic no egress rule allows when defaultOutput is Reject", async () => {
    const c = fleet.net.client.ip4;
    const r = await fleet.probeDetail([`tcp:${c}:26`, `tcp:${c}:25`], { from: edge.ns, timeoutMs: 1000 });
    expect(r).toEqual({ [`tcp:${c}:26`]: "open", [`tcp:${c}:25`]: "refused" });
    // IPv6 from the host still works: its neighbour solicitations pass whatever the egress default
    await fleet.net.exec(edge.ns, ["ip", "-6", "neigh", "flush", "dev", "eth0"]);
    const c6 = `tcp:[${fleet.net.client.ip6}]:26`;
    expect(await fleet.probeDetail([c6], { from: edge.ns, timeoutMs: 2000 })).toEqual({ [c6]: "open" });
  });

  it("rate-limits accepted ICMP: of 20 simultaneous pings (new flows) only the burst is answered", async () => {
    const script = `for i in $(seq 20); do (ping -c 1 -W 1 -q ${edge.ip4} >/dev/null && echo answered) & done; wait`;
    const out = await fleet.net.exec(fleet.net.client.ns, ["sh", "-c", script]);
    const answered = out.split("\n").filter((l) => l === "answered").length;
    expect(answered).toBeGreaterThanOrEqual(1);
    expect(answered).toBeLessThan(12);
    // the policy answers ping at all: one ping after the bucket refills
    await waitFor("a ping answered", () => fleet.net.exec(fleet.net.client.ns, ["ping", "-c", "1", "-W", "1", "-q", edge.ip4]).then(() => true), 30_000, 300);
  });

  it("evaluates several policies by order (not name), first match wins, then the strictest default", async () => {
    const t = (p: number) => `tcp:${multi.ip4}:${p}`;
    const r = await fleet.probe([t(8080), t(8081), t(8082), t(443)]);
    // 8080: denied by order 10 before order 20 allows it; 8081: allowed by order 20 before order 30 denies it;
    // 8082: denied by order 30; 443: no rule, and the strictest default (Drop, from order 10) applies
    expect(r).toEqual({ [t(8080)]: false, [t(8081)]: true, [t(8082)]: false, [t(443)]: false });
  });

  it("audit mode drops nothing but counts what it would drop, and the count reaches the status report", async () => {
    const r = await fleet.probe([`tcp:${audit.ip4}:443`, `tcp:${audit.ip4}:3306`, `tcp:${audit.ip4}:8080`]);
    expect(Object.values(r)).toEqual([true, true, true]);
    const listed = await fleet.nft(audit, ["list", "counter", "inet", "fleetwall", "audit_audit-only"]);
    expect(Number(/packets (\d+)/.exec(listed)?.[1])).toBeGreaterThanOrEqual(2);
    await waitFor("audit drops in the status report", async () => ((await status()).hosts.find((h) => h.id === "audit-1")?.auditDrops["audit-only"] ?? 0) >= 2, 30_000, 200);
    expect((await status()).hosts.find((h) => h.id === "web-1")?.auditDrops).toEqual({});
  });
});
