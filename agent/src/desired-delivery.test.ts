import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { DesiredDelivery, type StoredDesired } from "./desired-delivery.js";

const log = pino({ level: "silent" });
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A bucket of one key whose stored entry the test sets; `fail` makes reads throw. */
function bucket() {
  const b = { entry: null as Awaited<ReturnType<StoredDesired["get"]>>, fail: false, reads: 0 };
  const stored: StoredDesired = {
    get: async () => {
      b.reads += 1;
      if (b.fail) throw new Error("no responders");
      return b.entry;
    },
  };
  return { b, stored };
}

function delivery(stored: StoredDesired, checkMs?: number) {
  const got: string[] = [];
  const d = new DesiredDelivery(stored, "h1", async (data, s) => void got.push(`${dec.decode(data)}${s ? " (stored)" : ""}`), log, checkMs);
  return { d, got };
}

describe("DesiredDelivery", () => {
  it("delivers each distinct value once, stored or live, and a stored revision once", async () => {
    const { b, stored } = bucket();
    const { d, got } = delivery(stored);
    b.entry = { operation: "PUT", revision: 1, value: enc.encode("a") };
    await d.read();
    await d.read(); // same revision: not read again
    await d.deliver(enc.encode("a"), false); // the same state again
    await d.deliver(enc.encode("b"), false);
    b.entry = { operation: "PUT", revision: 2, value: enc.encode("b") }; // a new revision of what was delivered live
    await d.read();
    b.entry = { operation: "PUT", revision: 3, value: enc.encode("c") };
    await d.read();
    expect(got).toEqual(["a (stored)", "b", "c (stored)"]);
  });

  it.each([
    { name: "a deleted key", entry: { operation: "DEL", revision: 4, value: new Uint8Array() } },
    { name: "a missing key", entry: null },
  ])("delivers nothing for $name", async ({ entry }) => {
    const { b, stored } = bucket();
    const { d, got } = delivery(stored);
    b.entry = entry;
    await d.read();
    expect(got).toEqual([]);
  });

  it("survives a failed read and delivers on the next", async () => {
    const { b, stored } = bucket();
    const { d, got } = delivery(stored);
    b.fail = true;
    await expect(d.read()).resolves.toBeUndefined();
    b.fail = false;
    b.entry = { operation: "PUT", revision: 1, value: enc.encode("a") };
    await d.read();
    expect(got).toEqual(["a (stored)"]);
  });

  it("reads again periodically until stopped", async () => {
    const { b, stored } = bucket();
    const { d, got } = delivery(stored, 4);
    b.entry = { operation: "PUT", revision: 1, value: enc.encode("a") };
    const ac = new AbortController();
    d.startChecks(ac.signal);
    d.startChecks(ac.signal); // once
    const deadline = Date.now() + 10_000;
    while (b.reads < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(got).toEqual(["a (stored)"]);
    d.stop();
    ac.abort();
    const reads = b.reads;
    await new Promise((r) => setTimeout(r, 30));
    expect(b.reads).toBe(reads);
  });
});
