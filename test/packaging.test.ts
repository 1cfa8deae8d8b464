import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const unit = new URL("../packaging/systemd/fleetwall-agent.service", import.meta.url).pathname;

describe("packaging/systemd/fleetwall-agent.service", () => {
  it("passes systemd-analyze verify", () => {
    // verify resolves ExecStart binaries: check the unit as installed, with fleetwall at /usr/bin
    const text = readFileSync(unit, "utf8").replaceAll("/usr/bin/fleetwall", "/bin/true");
    const tmp = `/tmp/fleetwall-agent-verify-${process.pid}.service`;
    execFileSync("sh", ["-c", `cat > ${tmp}`], { input: text });
    try {
      const out = execFileSync("systemd-analyze", ["verify", tmp], { stdio: ["ignore", "pipe", "pipe"] }).toString();
      expect(out).toBe("");
    } finally {
      execFileSync("rm", ["-f", tmp]);
    }
  });

  it("grants only CAP_NET_ADMIN and CAP_NET_RAW, keeps state in its StateDirectory, restores at boot", () => {
    const text = readFileSync(unit, "utf8");
    expect(text).toMatch(/^CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW$/m);
    expect(text).toMatch(/^ProtectSystem=strict$/m);
    expect(text).toMatch(/^StateDirectory=fleetwall$/m);
    expect(text).toMatch(/^ExecStartPre=\/usr\/bin\/fleetwall agent --boot /m);
    expect(text).toMatch(/^NoNewPrivileges=yes$/m);
  });
});
