import { describe, expect, it } from "vitest";
import { BAN_SET_NAMES, compareKernel } from "@fleetwall/api";
import { NoRespondersError, PermissionViolationError, RequestError, TimeoutError } from "@nats-io/transport-node";
import { ElementsUnavailableError, elementsDiffer, elementsFailure, elementsFlags, elementsSummary, formatElements, parseElementsReply } from "./bans-elements.js";
import { ConfigError } from "./config-error.js";

const good = () => ({
  schemaVersion: 1,
  hostId: "web-2",
  at: "2026-12-06T00:00:00.000Z",
  loading: false,
  sets: BAN_SET_NAMES.map((set) => ({ set, total: set === "ban4" ? 2 : 0, elements: set === "ban4" ? [{ element: "10.0.0.1" }, { element: "10.0.0.2", expiresInMs: 5000 }] : [] })),
  refused: [],
  refusedTotal: 0,
  own: [],
  ownTotal: 0,
  local: [],
  localTotal: 0,
});

describe("parseElementsReply: a host's answer is untrusted input", () => {
  it("takes a well-formed answer for the host asked", () => {
    expect(parseElementsReply("web-2", JSON.stringify(good())).sets).toHaveLength(8);
  });

  it.each<[string, (r: ReturnType<typeof good>) => unknown, RegExp]>([
    ["an unknown field", (r) => ({ ...r, extra: true }), /invalid answer: \(answer\): Unrecognized key/],
    ["another host's answer", (r) => ({ ...r, hostId: "web-3" }), /it is for host web-3/],
    ["a set listed twice", (r) => ({ ...r, sets: [...r.sets.slice(1), r.sets[1]] }), /each of the 8 sets/],
    ["elements out of order", (r) => ({ ...r, sets: r.sets.map((s) => ({ ...s, elements: [...s.elements].reverse() })) }), /ban4 is not in order/],
    ["more elements than the total", (r) => ({ ...r, sets: r.sets.map((s) => ({ ...s, total: 0 })) }), /more elements than its total/],
    ["a negative time left", (r) => ({ ...r, sets: r.sets.map((s) => ({ ...s, elements: s.elements.map((e) => ({ ...e, expiresInMs: -1 })) })) }), /sets\.4\.elements\.0\.expiresInMs/],
    ["escape codes in an element", (r) => ({ ...r, sets: r.sets.map((s) => ({ ...s, elements: s.elements.map((e) => ({ ...e, element: "\u001b[2J10.0.0.1" })) })) }), /sets\.4\.elements\.0\.element: an address, network or range/],
    ["escape codes in a reason", (r) => ({ ...r, refused: [{ set: "ban4", element: "10.0.0.9", error: "\u001b]0;owned\u0007" }], refusedTotal: 1 }), /refused\.0\.error: printable ASCII/],
    ["an unknown set", (r) => ({ ...r, sets: [{ set: "evil4", total: 0, elements: [] }] }), /sets\.0\.set/],
    ["an agent's refusal", (r) => ({ ...r, sets: [], error: "busy listing for another request; ask again" }), /did not list its elements: busy/],
  ])("refuses %s with one line naming the problem", (_what, change, message) => {
    const run = () => parseElementsReply("web-2", JSON.stringify(change(good())));
    expect(run).toThrow(ElementsUnavailableError);
    expect(run).toThrow(message);
  });

  it("takes a next page only if it is that page: its cursor echoed, every element after it", () => {
    const after = { set: "ban4" as const, element: "10.0.0.0" };
    expect(parseElementsReply("web-2", JSON.stringify({ ...good(), after }), after).after).toEqual(after);
    expect(() => parseElementsReply("web-2", JSON.stringify(good()), after)).toThrow(/it is for another page/);
    const late = { set: "ban4" as const, element: "10.0.0.1" };
    expect(() => parseElementsReply("web-2", JSON.stringify({ ...good(), after: late }), late)).toThrow(/ban4 10\.0\.0\.1 is not after the page's start/);
  });

  it("refuses text that is not JSON", () => {
    expect(() => parseElementsReply("web-2", "<html>")).toThrow(/web-2: invalid answer: not JSON/);
  });
});

describe("elementsFailure: why a host did not answer, in one line", () => {
  const noResponders = new RequestError("no responders", { cause: new NoRespondersError("fleetwall.elements.web-2") });
  it.each<[string, unknown, boolean, RegExp]>([
    ["no agent listening", noResponders, false, /^host web-2: no agent listens for element requests \(not running/],
    ["no answer in time", new TimeoutError(), false, /^host web-2: no answer within 2.5s \(is it STALE/],
    ["a stale host", new TimeoutError(), true, /^host web-2: no answer; it is STALE/],
    ["a stale host without a listener", noResponders, true, /^host web-2: no answer; it is STALE/],
    ["the server's refusal", new RequestError("x", { cause: new PermissionViolationError("Permissions Violation for Publish to \"fleetwall.elements.web-2\"", "publish", "fleetwall.elements.web-2") }), false, /^host web-2: the server refused the request \(Permissions Violation.*use the operator's credentials$/],
  ])("%s", (_what, error, stale, message) => {
    const e = elementsFailure("web-2", 2500, error, stale);
    expect(e).toBeInstanceOf(ElementsUnavailableError);
    expect(e.message).toMatch(message);
    expect(e.message).not.toContain("\n");
  });
});

describe("elementsFlags", () => {
  it.each([
    [{ limit: "10", timeout: "5s" }, /--elements: .*give --host/],
    [{ host: "a", limit: "0", timeout: "5s" }, /--limit/],
    [{ host: "a", limit: "5001", timeout: "5s" }, /--limit/],
    [{ host: "a", limit: "ten", timeout: "5s" }, /--limit: a whole number/],
    [{ host: "a", limit: "10", timeout: "10" }, /--timeout/],
    [{ host: "a", timeout: "5s", list: "cli", jail: "sshd" }, /--elements: lists every set .*--list, --jail do not apply/],
  ])("refuses %j", (flags, message) => {
    expect(() => elementsFlags(flags)).toThrow(ConfigError);
    expect(() => elementsFlags(flags)).toThrow(message);
  });

  it("reads --after as the previous page printed it", () => {
    expect(elementsFlags({ host: "a", after: "ban6:2001:db8::7" }).after).toEqual({ set: "ban6", element: "2001:db8::7" });
    expect(() => elementsFlags({ host: "a", after: "ban9:1.2.3.4" })).toThrow(/--after: "ban9:1.2.3.4" is not SET:ELEMENT/);
    expect(() => elementsFlags({ host: "a", after: "10.0.0.1" })).toThrow(/--after/);
  });

  it("defaults the limit to 1000 and the timeout to 10s", () => {
    expect(elementsFlags({ host: "a", timeout: "2s" })).toEqual({ host: "a", limit: 1000, timeoutMs: 2000 });
    expect(elementsFlags({ host: "a" })).toEqual({ host: "a", limit: 1000, timeoutMs: 10_000 });
  });
});

describe("formatElements", () => {
  it("summarises and lists each element with its state; differing kernels are flagged", () => {
    const reply = parseElementsReply("web-2", JSON.stringify(good()));
    const comparison = compareKernel(reply, [{ set: "ban4", element: "10.0.0.1", expiresAt: Infinity, from: "manual" }, { set: "ban4", element: "10.0.0.3", expiresAt: Infinity, from: "manual" }], Date.parse(reply.at));
    const e = { host: "web-2", at: reply.at, loading: false, comparison, kernelTotal: 2, leftOut: 0 };
    const text = formatElements(e);
    expect(text).toMatch(/^host web-2 kernel at 2026-12-06T00:00:00.000Z: 2 element\(s\) in its sets = 1 in force \+ 0 own \(its allow entries\) \+ 1 EXTRA; not in its sets: 0 covered \(inside a network it holds\), 1 MISSING, 0 REFUSED\n/);
    expect(text).toMatch(/ban4\s+10\.0\.0\.2\s+EXTRA\s+2026-12-06T00:00:05Z/);
    expect(text).toMatch(/ban4\s+10\.0\.0\.3\s+MISSING\s+-\s+never\s+manual/);
    expect(elementsDiffer(e)).toBe(true);
  });

  it("adds up: the kernel's elements are those in force, own, EXTRA, expiring and not listed; covered ones are not among them", () => {
    // the review's case: 14 in the kernel, 1 ban in force, 13 allow entries, 4 bans inside a network it holds
    const counts = { "in force": 1, own: 13, covered: 4, MISSING: 0, REFUSED: 0, EXTRA: 0 };
    expect(elementsSummary({ comparison: { rows: [], counts, notCompared: 0 }, kernelTotal: 14, leftOut: 0 })).toBe("14 element(s) in its sets = 1 in force + 13 own (its allow entries) + 0 EXTRA; not in its sets: 4 covered (inside a network it holds), 0 MISSING, 0 REFUSED");
    // 20 in the kernel, 5 listed: 1 judged, 4 expiring; and 2 wanted ones expiring
    const some = { "in force": 1, own: 0, covered: 0, MISSING: 0, REFUSED: 0, EXTRA: 0 };
    expect(elementsSummary({ comparison: { rows: [], counts: some, notCompared: 6 }, kernelTotal: 20, leftOut: 15 })).toBe("20 element(s) in its sets = 1 in force + 0 own (its allow entries) + 0 EXTRA + 4 expiring (not judged) + 15 not listed (--limit); not in its sets: 0 covered (inside a network it holds), 0 MISSING, 0 REFUSED, 2 expiring (not judged)");
  });
});
