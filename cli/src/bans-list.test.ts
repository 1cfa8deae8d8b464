import { describe, expect, it } from "vitest";
import { formatBans, localBanRow } from "./bans-list.js";

describe("a host's own jail ban in bans list", () => {
  it("has a reason naming its jail and host, not an empty column", () => {
    const row = localBanRow("web-1", { jail: "sshd", address: "203.0.113.9", expiresAt: Date.parse("2026-12-06T06:00:00Z") }, []);
    expect(row).toMatchObject({ origin: "local", cidr: "203.0.113.9", jail: "sshd", host: "web-1", expiresAt: "2026-12-06T06:00:00.000Z" });
    expect(row.reason).toBe("banned by jail sshd on web-1 (its own ban; its report gives no failure count)");
    const text = formatBans({ rows: [row] });
    expect(text).toMatch(/203\.0\.113\.9\s+jail\s+sshd\s+web-1\s+2026-12-06T06:00:00\.000Z\s+banned by jail sshd on web-1/);
  });
});
