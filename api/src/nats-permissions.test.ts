import { describe, expect, it } from "vitest";
import { AGENTS_ACCOUNT, AGENTS_SERVICES, AGENTS_STREAMS, CONTROLLER_PERMISSIONS, FLEET_ACCOUNT, FLEET_SERVICES, FLEET_STREAMS, OPERATOR_PERMISSIONS, agentPermissions, natsAuthorization } from "./nats-permissions.js";

describe("agentPermissions", () => {
  const p = agentPermissions("h1");

  it("lets an agent create, delete or steer no JetStream consumer (it catches up by direct get)", () => {
    expect(p.publish.filter((s) => /^\$JS\.(API\.CONSUMER|FC|ACK)\b/.test(s) || s === "$JS.API.>" || s === ">")).toEqual([]);
    expect(p.publish).toContain("$JS.API.DIRECT.GET.KV_fleetwall-bans");
  });

  it("reads only its own desired-state key and the one protection key directly", () => {
    expect(p.publish.filter((s) => s.startsWith("$JS.API.DIRECT.GET."))).toEqual([
      "$JS.API.DIRECT.GET.KV_fleetwall-desired.$KV.fleetwall-desired.h1",
      "$JS.API.DIRECT.GET.KV_fleetwall-protection.$KV.fleetwall-protection.fleet",
      "$JS.API.DIRECT.GET.KV_fleetwall-bans",
    ]);
  });

  it("publishes no wildcard and writes no bucket but its own registration", () => {
    expect(p.publish.filter((s) => s.includes("*") || s.includes(">"))).toEqual([]);
    expect(p.publish.filter((s) => s.startsWith("$KV."))).toEqual(["$KV.fleetwall-hosts.h1"]);
  });

  it("leaves consumers to the controller: operators read by direct get and may create, delete or steer none", () => {
    expect(CONTROLLER_PERMISSIONS.publish).toContain("$JS.API.>");
    expect(OPERATOR_PERMISSIONS.publish.filter((s) => /^\$JS\.(API\.CONSUMER|FC|ACK)\b|^\$JS\.API\.>$|^>$/.test(s))).toEqual([]);
    expect(OPERATOR_PERMISSIONS.publish).toContain("$JS.API.DIRECT.GET.KV_fleetwall-bans");
  });
});

/** Whether NATS subject `pattern` (with `*` and `>`) covers the literal subject `s`. */
function covers(pattern: string, s: string): boolean {
  const p = pattern.split(".");
  const t = s.split(".");
  for (let i = 0; i < p.length; i += 1) {
    if (p[i] === ">") return t.length > i;
    if (i >= t.length || (p[i] !== "*" && p[i] !== t[i])) return false;
  }
  return p.length === t.length;
}

describe("natsAuthorization: two accounts", () => {
  const conf = natsAuthorization([
    { nkey: "UCTL", role: { kind: "controller" } },
    { nkey: "UOPS", role: { kind: "operator" } },
    { nkey: "UH1", role: { kind: "agent", hostId: "h1" } },
  ]);
  const block = (name: string) => conf.slice(conf.indexOf(`  ${name} {`), conf.indexOf("\n  }", conf.indexOf(`  ${name} {`)));

  it("puts JetStream, the controller and operators in FLEET and agents in AGENTS (no JetStream there)", () => {
    expect(conf).toMatch(/^accounts \{$/m);
    expect(conf).not.toMatch(/^authorization/m);
    expect(block(FLEET_ACCOUNT)).toContain("jetstream: enabled");
    expect(block(FLEET_ACCOUNT)).toContain('"UCTL"');
    expect(block(FLEET_ACCOUNT)).toContain('"UOPS"');
    expect(block(FLEET_ACCOUNT)).not.toContain('"UH1"');
    expect(block(AGENTS_ACCOUNT)).toContain('"UH1"');
    expect(block(AGENTS_ACCOUNT)).not.toContain("jetstream");
  });

  it("imports into AGENTS a FLEET service for every request an agent may make, and a stream for everything it follows", () => {
    const p = agentPermissions("h1");
    const own = ["fleetwall.report.h1"];
    expect(p.publish.filter((s) => !own.includes(s) && !FLEET_SERVICES.some((e) => covers(e, s)))).toEqual([]);
    const answered = ["_INBOX_h1.>", "fleetwall.elements.h1"];
    expect(p.subscribe.filter((s) => !answered.includes(s) && !FLEET_STREAMS.some((e) => covers(e, s)))).toEqual([]);
    for (const s of [...FLEET_SERVICES, ...FLEET_STREAMS]) expect(block(AGENTS_ACCOUNT)).toContain(`account: FLEET, subject: ${JSON.stringify(s)}`);
    expect(AGENTS_STREAMS.some((e) => covers(e, "fleetwall.report.h1"))).toBe(true);
    expect(AGENTS_SERVICES.some((e) => covers(e, "fleetwall.elements.h1"))).toBe(true);
  });

  it("exports no JetStream API wildcard and nothing that creates, deletes or steers a consumer or writes a desired state, decision or protection", () => {
    for (const s of [...FLEET_SERVICES, ...FLEET_STREAMS]) expect(s).not.toMatch(/^\$JS\.API\.>$|CONSUMER|\$JS\.(FC|ACK)|^>$/);
    for (const s of ["$KV.fleetwall-desired.h1", "$KV.fleetwall-bans.x", "$KV.fleetwall-protection.fleet", "$JS.API.STREAM.PURGE.KV_fleetwall-bans"]) expect(FLEET_SERVICES.some((e) => covers(e, s))).toBe(false);
  });
});
