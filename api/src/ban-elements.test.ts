import { describe, expect, it } from "vitest";
import { BAN_SET_NAMES, ElementsReply, compareKernel, expectedFromDecisions, expectedOfReply, nextCursor, shareLimit, type BanSetName, type KernelElement } from "./index.js";

const AT = Date.parse("2026-12-06T00:00:00Z");
const H = 3_600_000;

/** An answer listing `sets` (the others empty), each whole unless `totals` says more. */
function reply(sets: Partial<Record<BanSetName, KernelElement[]>>, extra: Partial<ElementsReply> = {}, totals: Partial<Record<BanSetName, number>> = {}): ElementsReply {
  return ElementsReply.parse({
    schemaVersion: 1,
    hostId: "web-2",
    at: new Date(AT).toISOString(),
    loading: false,
    sets: BAN_SET_NAMES.map((set) => ({ set, total: totals[set] ?? sets[set]?.length ?? 0, elements: sets[set] ?? [] })),
    refused: [],
    refusedTotal: 0,
    own: [],
    ownTotal: 0,
    local: [],
    localTotal: 0,
    ...extra,
  });
}

const deny = (cidr: string, expiresAt: number | null = null, list = "manual") => ({ list, type: "Deny", cidr, expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString() });
const states = (c: ReturnType<typeof compareKernel>) => c.rows.map((r) => `${r.set} ${r.element} ${r.state}${r.detail ? ` (${r.detail})` : ""}`);

describe("shareLimit", () => {
  it.each([
    [[0, 0, 10], 5, [0, 0, 5]],
    [[2, 100, 100], 10, [2, 4, 4]],
    [[3, 3, 3], 100, [3, 3, 3]],
    [[100, 100, 100], 10, [4, 3, 3]],
    [[100, 100, 100], 1, [1, 0, 0]],
    [[0, 5, 100], 2, [0, 1, 1]],
    [[7, 1, 100], 50, [7, 1, 42]],
  ])("sizes %j, limit %i → %j", (sizes, limit, want) => {
    expect(shareLimit(sizes, limit)).toEqual(want);
    expect(shareLimit(sizes, limit).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(limit);
  });
});

describe("compareKernel: the kernel's elements against the decisions", () => {
  it("marks each element in force, MISSING or EXTRA, and maps decisions to the agent's sets", () => {
    const expected = expectedFromDecisions([deny("10.77.0.152"), deny("10.77.0.224/27"), deny("2001:db8::7"), { list: "ops", type: "Allow", cidr: "198.18.5.0/24", expiresAt: null }]);
    const c = compareKernel(reply({ ban4: [{ element: "10.77.0.9" }], net4: [{ element: "10.77.0.224/27" }], allow4: [{ element: "198.18.5.0/24" }], ban6: [{ element: "2001:db8::7" }] }), expected, AT);
    expect(states(c)).toEqual(["allow4 198.18.5.0/24 in force", "net4 10.77.0.224/27 in force", "ban4 10.77.0.152 MISSING", "ban4 10.77.0.9 EXTRA", "ban6 2001:db8::7 in force"]);
    expect(c.counts).toMatchObject({ "in force": 3, MISSING: 1, EXTRA: 1, REFUSED: 0 });
  });

  it("gives nft's reason for a refused element, and shows one refused for a decision it does not see", () => {
    const r = reply({}, { refused: [{ set: "net4", element: "10.77.0.240/29", error: "interval overlaps with an existing one" }, { set: "ban4", element: "10.9.9.9", error: "bad" }], refusedTotal: 2 });
    const c = compareKernel(r, expectedFromDecisions([deny("10.77.0.240/29")]), AT);
    expect(states(c)).toEqual(["net4 10.77.0.240/29 REFUSED (interval overlaps with an existing one)", "ban4 10.9.9.9 REFUSED (bad)"]);
  });

  it("a network inside another wanted one is covered (the agent leaves it out), not missing", () => {
    const c = compareKernel(reply({ net4: [{ element: "10.77.0.224/27" }] }), expectedFromDecisions([deny("10.77.0.240/29"), deny("10.77.0.224/27")]), AT);
    expect(states(c)).toEqual(["net4 10.77.0.224/27 in force", "net4 10.77.0.240/29 covered (inside 10.77.0.224/27)"]);
  });

  it("a network inside one the kernel still holds for a decision that just ended is covered, not missing (the agent adds it when that one times out)", () => {
    // the /27's decision ended at AT; the kernel drops its element at the next whole second
    const c = compareKernel(reply({ net4: [{ element: "10.77.0.224/27", expiresInMs: 900 }] }), expectedFromDecisions([deny("10.77.0.240/29")]), AT);
    expect(states(c)).toEqual(["net4 10.77.0.240/29 covered (inside 10.77.0.224/27)"]);
    // nothing covers it: missing
    expect(states(compareKernel(reply({ net4: [{ element: "10.77.1.0/27" }] }), expectedFromDecisions([deny("10.77.0.240/29")]), AT))).toContain("net4 10.77.0.240/29 MISSING");
  });

  it("merges the decisions for one element (latest expiry, every list) and points out a kernel expiry that differs", () => {
    const expected = expectedFromDecisions([deny("10.1.1.1", AT + H, "a"), deny("10.1.1.1", AT + 2 * H, "b"), deny("10.1.1.2", AT + H), deny("10.1.1.3", null), deny("10.1.1.4", AT + H)]);
    const c = compareKernel(reply({ ban4: [{ element: "10.1.1.1", expiresInMs: 2 * H - 1000 }, { element: "10.1.1.2", expiresInMs: 60_000 }, { element: "10.1.1.3", expiresInMs: H }, { element: "10.1.1.4" }] }), expected, AT);
    expect(c.rows.map((r) => [r.element, r.state, r.from.join(","), r.detail ?? ""])).toEqual([
      ["10.1.1.1", "in force", "a,b", ""],
      ["10.1.1.2", "in force", "manual", "the kernel drops it at 2026-12-06T00:01:00.000Z"],
      ["10.1.1.3", "in force", "manual", "the kernel drops it, the decisions never end"],
      ["10.1.1.4", "in force", "manual", "no timeout in the kernel"],
    ]);
  });

  it("judges the host's own local bans and allow entries from its answer", () => {
    const r = reply({ local4: [{ element: "203.0.113.5", expiresInMs: 60_000 }], allow4: [{ element: "198.18.9.0/24" }] }, { local: [{ address: "203.0.113.5", jail: "sshd", expiresAt: AT + 60_000 }, { address: "203.0.113.6", jail: "sshd", expiresAt: AT + 60_000 }], localTotal: 2, own: [{ set: "allow4", element: "198.18.9.0/24" }], ownTotal: 1 });
    const c = compareKernel(r, [...expectedFromDecisions([]), ...expectedOfReply(r)], AT);
    expect(states(c)).toEqual(["allow4 198.18.9.0/24 own", "local4 203.0.113.5 in force", "local4 203.0.113.6 MISSING"]);
  });

  it("judges nothing beyond what a cut-short answer listed, and nothing expiring within seconds", () => {
    const expected = expectedFromDecisions([deny("10.0.0.1"), deny("10.0.0.3"), deny("10.0.0.9"), deny("10.0.0.5", AT + 1000)]);
    // the kernel holds 3 elements of ban4, the answer lists the first 2 (text order)
    const c = compareKernel(reply({ ban4: [{ element: "10.0.0.1" }, { element: "10.0.0.2" }] }, {}, { ban4: 3 }), expected, AT);
    expect(states(c)).toEqual(["ban4 10.0.0.1 in force", "ban4 10.0.0.2 EXTRA"]);
    expect(c.notCompared).toBe(3); // 10.0.0.3 and 10.0.0.9 lie beyond 10.0.0.2; 10.0.0.5 expires within 2 s
    const expiring = compareKernel(reply({ ban4: [{ element: "10.0.0.7", expiresInMs: 1000 }] }), [], AT);
    expect(expiring).toMatchObject({ rows: [], notCompared: 1 });
  });

  it("a next page starts at the first set listed short, and judges nothing up to its cursor", () => {
    const cut = reply({ net4: [{ element: "10.1.0.0/16" }], ban4: [{ element: "10.0.0.1" }] }, {}, { net4: 2, ban4: 5 });
    expect(nextCursor(cut)).toEqual({ set: "net4", element: "10.1.0.0/16" });
    expect(nextCursor(reply({ ban4: [{ element: "10.0.0.1" }] }))).toBeUndefined();
    // nothing of net4 listed although it holds some: the next page starts before net4
    expect(nextCursor(reply({}, {}, { net4: 1 }))).toEqual({ set: "allow6", element: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128" });
    const page = reply({ ban4: [{ element: "10.0.0.5" }] }, { after: { set: "ban4", element: "10.0.0.3" } });
    const c = compareKernel(page, expectedFromDecisions([deny("10.0.0.1"), deny("10.0.0.5"), deny("10.0.0.0/8")]), AT);
    // 10.0.0.1 and net4 lie before the cursor: not looked at; the /8 does not cover a ban4 element
    expect(states(c)).toEqual(["ban4 10.0.0.5 in force"]);
    expect(c.notCompared).toBe(0);
  });
});
