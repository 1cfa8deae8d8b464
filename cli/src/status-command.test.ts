import { describe, expect, it } from "vitest";
import type { FleetStatus } from "@fleetwall/api";
import { formatHosts, formatStatus } from "./status-command.js";

const host: FleetStatus["hosts"][number] = { id: "web-1", labels: { role: "web" }, desiredRevision: 4, appliedRevision: 4, inSync: false, lastSeen: "2026-12-06T04:00:00.000Z", error: null, activeBans: 0, driftRepairs: 0, auditDrops: {}, stale: false, bans: "InSync" };

describe("fleetwall status, as text", () => {
  it("says a host's newest state was not published, and why; and which policies it holds back", () => {
    const message = "revision 5 not published: desired state of 3146532 bytes (1006811 as sent, deflated) exceeds the bus's limit of 1048576 bytes per message";
    const text = formatStatus({
      hosts: [{ ...host, unpublished: { reason: "TooLarge", revision: 5, message, textBytes: 3146532, wireBytes: 1006811, limit: 1048576 } }, { ...host, id: "web-2", inSync: true }],
      policies: [{ name: "big", selectedHosts: 2, appliedHosts: 1, failedHosts: 1, unpublishedHosts: 1, error: null, warnings: ["a warning"] }],
      banLists: [],
    });
    expect(text).toMatch(new RegExp(`^web-1\\s+role=web\\s+4\\s+4\\s+NOT PUBLISHED\\s+\\S+\\s+in sync\\s+${message.replace(/[()]/g, "\\$&")}$`, "m"));
    expect(text).toMatch(/^web-2\s+role=web\s+4\s+4\s+yes\s+/m);
    expect(text).toMatch(/^big\s+2\s+1\s+1\s+not published to 1 host\(s\): see HOST ERROR; a warning$/m);
  });

  it("says why a host's BANS are not known rather than a bare dash", () => {
    const hosts = [
      { ...host, id: "web-1", inSync: true, bans: "Unknown" as const, bansUnknown: "Loading" as const },
      { ...host, id: "web-2", inSync: true, bans: "Unknown" as const, bansUnknown: "NotReported" as const },
      { ...host, id: "web-3", stale: true, bans: "Unknown" as const, bansUnknown: "Stale" as const },
      { ...host, id: "web-4", inSync: true, bans: "Unknown" as const },
    ];
    const text = formatStatus({ hosts, policies: [], banLists: [] });
    expect(text).toMatch(/^web-1\s.*\syes\s+\S+\s+- \(loading\)\s*$/m);
    expect(text).toMatch(/^web-2\s.*\syes\s+\S+\s+- \(not reported yet\)\s*$/m);
    expect(text).toMatch(/^web-3\s.*\sSTALE\s+\S+\s+- \(stale\)\s*$/m);
    expect(text).toMatch(/^web-4\s.*\syes\s+\S+\s+-\s*$/m);
  });

  it("names a host's refused addresses in status, and hosts list says which are protected and why the others are not", () => {
    const h = { ...host, inSync: true, addresses: ["198.18.1.5", "203.0.113.7"], refusedAddresses: [{ address: "203.0.113.7", reason: "outside the host networks (--host-networks): not protected" }] };
    const status = { hosts: [h, { ...host, id: "web-2", inSync: true, addresses: ["198.18.1.6"] }], policies: [], banLists: [] };
    expect(formatStatus(status)).toMatch(/^web-1\s.*\syes\s+\S+\s+in sync\s+addresses not protected: 203\.0\.113\.7$/m);
    const text = formatHosts(status);
    expect(text).toMatch(/^web-1\s+reporting\s+198\.18\.1\.5\s+203\.0\.113\.7 \(outside the host networks \(--host-networks\): not protected\)$/m);
    expect(text).toMatch(/^web-2\s+reporting\s+198\.18\.1\.6\s+-$/m);
  });

  it("an IPv4-mapped address the controller refused as the IPv4 address it is is not listed as protected", () => {
    const h = { ...host, inSync: true, addresses: ["198.18.1.5", "::ffff:8.8.4.4", "::FFFF:198.18.1.9"], refusedAddresses: [{ address: "8.8.4.4", reason: "outside the default host networks: not protected" }] };
    const text = formatHosts({ hosts: [h], policies: [], banLists: [] });
    expect(text).toMatch(/^web-1\s+reporting\s+198\.18\.1\.5,::FFFF:198\.18\.1\.9\s+8\.8\.4\.4 \(outside/m);
    expect(text).not.toMatch(/::ffff:8\.8\.4\.4/);
  });
});
