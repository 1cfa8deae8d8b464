import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { natsAuthorization, type NatsRole } from "@fleetwall/api";
import { REPO } from "./harness/fleet.js";

const DIR = join(REPO, "deploy/nats");

describe("the example NATS server configuration in deploy/", () => {
  it("is accepted by nats-server", () => {
    const r = spawnSync("nats-server", ["-t", "-c", join(DIR, "nats-server.conf")], { encoding: "utf8" });
    expect(r.stderr).toMatch(/configuration file .* is valid/);
    expect(r.status).toBe(0);
  });

  it("holds exactly what `fleetwall nats-auth` generates for its keys (no hand edits, no drift)", () => {
    const text = readFileSync(join(DIR, "fleetwall-auth.conf"), "utf8");
    const users = [...text.matchAll(/# (controller|operator|agent (\S+))\n\s*\{ nkey: "(U[A-Z0-9]+)"/g)].map((m) => ({
      nkey: m[3] as string,
      role: (m[2] ? { kind: "agent", hostId: m[2] } : { kind: m[1] }) as NatsRole,
    }));
    expect(users.map((u) => u.role.kind)).toEqual(["controller", "operator", "agent", "agent", "agent"]);
    expect(natsAuthorization(users)).toBe(text);
  });
});
