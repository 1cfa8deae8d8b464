import { describe, expect, it } from "vitest";
import { CONTROLLER_PERMISSIONS, OPERATOR_PERMISSIONS, agentPermissions } from "./nats-permissions.js";

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

  it("leaves consumers to the controller and operators (whose consumers the controller's guard judges)", () => {
    expect(CONTROLLER_PERMISSIONS.publish).toContain("$JS.API.>");
    expect(OPERATOR_PERMISSIONS.publish).toContain("$JS.API.CONSUMER.CREATE.*.*.>");
  });
});
