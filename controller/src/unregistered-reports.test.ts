import { describe, expect, it } from "vitest";
import { captureLog } from "../../test/harness/log-capture.js";
import { UnregisteredReports } from "./unregistered-reports.js";

describe("UnregisteredReports", () => {
  it("says once a minute per host that an unregistered host reports, and nothing of registered hosts", () => {
    const { log, lines } = captureLog();
    let now = 0;
    const registered = new Set(["web-1"]);
    const u = new UnregisteredReports(log, (id) => registered.has(id), 60_000, () => now);
    expect(u.check("web-1")).toBe(true);
    expect(lines).toHaveLength(0);
    for (let i = 0; i < 5; i += 1) expect(u.check("web-2")).toBe(false);
    expect(u.check("web-3")).toBe(false);
    const said = lines.filter((l) => String(l.msg).startsWith("a host that is not registered reports"));
    expect(said.map((l) => l.host)).toEqual(["web-2", "web-3"]);
    expect(said[0]).toMatchObject({ level: 40, fix: expect.stringContaining("restart its agent") });
    now = 60_001;
    u.check("web-2");
    expect(lines.filter((l) => l.host === "web-2")).toHaveLength(2);
  });
});
