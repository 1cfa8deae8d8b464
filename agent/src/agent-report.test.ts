import { describe, expect, it } from "vitest";
import { BUS_MESSAGE_BYTES, HostReport, REPORT_LOCAL_BANS_LIMIT, SCHEMA_VERSION, parseBusJson } from "@fleetwall/api";
import { reportText } from "./agent-report.js";

const report = (local: number, error?: string): HostReport => ({
  schemaVersion: SCHEMA_VERSION,
  hostId: "h1",
  at: new Date(0).toISOString(),
  state: error ? "Failed" : "Applied",
  desiredRevision: 1,
  appliedRevision: 1,
  driftRepairs: 0,
  droppedMessages: 0,
  auditDrops: {},
  activeBans: local,
  ...(error ? { error } : {}),
  bans: {
    epoch: 0,
    loading: false,
    count: 0,
    digest: "0".repeat(16),
    refused: Array.from({ length: 20 }, (_, i) => ({ element: `2001:db8::${i}`, error: "x".repeat(5000) })),
    refusedTotal: 20,
    local: Array.from({ length: local }, (_, i) => ({ jail: `a-long-jail-name-${"j".repeat(40)}`, address: `2001:db8:ffff:ffff:ffff:ffff:ffff:${i.toString(16)}`, expiresAt: 1e12 + i })),
    localTotal: local,
  },
});

describe("reportText", () => {
  it("a report with the most local bans it may list fits the bound the controller reads, and still parses as a report", () => {
    const full = report(REPORT_LOCAL_BANS_LIMIT, "e".repeat(100_000));
    expect(JSON.stringify(full).length).toBeGreaterThan(BUS_MESSAGE_BYTES.report);
    const text = reportText(full);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(BUS_MESSAGE_BYTES.report);
    const parsed = parseBusJson(text, "report");
    expect(parsed.ok).toBe(true);
    const back = HostReport.parse((parsed as { value: unknown }).value);
    expect(back.bans?.localTotal).toBe(REPORT_LOCAL_BANS_LIMIT);
    expect(back.bans?.local.length).toBeGreaterThan(0);
  });

  it("a small report is sent as it is", () => {
    const r = report(3);
    r.bans!.refused = [];
    expect(reportText(r)).toBe(JSON.stringify(r));
  });
});
