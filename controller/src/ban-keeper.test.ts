import { describe, expect, it } from "vitest";
import { pino } from "pino";
import { SEAL_KEY_PREFIX, generateSigningKeyPem, loadSigningKey, type SignedEnvelope } from "@fleetwall/api";
import { BanKeeper, type BanSink } from "./ban-keeper.js";

const key = loadSigningKey(generateSigningKeyPem().privatePem);
const config = { minReporters: 1, reportWindowSeconds: 3600, maxBanSeconds: 86_400, minPrefix: { ip: 24, ip6: 64 }, protect: [] };

/** A bucket that answers each put after a short while and records how many were in flight at once. */
function slowBucket(): BanSink & { stored: Map<string, SignedEnvelope>; maxInFlight: number; order: string[] } {
  let inFlight = 0;
  const sink = {
    stored: new Map<string, SignedEnvelope>(),
    maxInFlight: 0,
    order: [] as string[],
    async putBan(k: string, envelope: SignedEnvelope) {
      inFlight += 1;
      sink.maxInFlight = Math.max(sink.maxInFlight, inFlight);
      sink.order.push(k);
      await new Promise((r) => setTimeout(r, 1 + (sink.order.length % 3)));
      sink.stored.set(k, envelope);
      inFlight -= 1;
    },
    async deleteBan(k: string) {
      sink.stored.delete(k);
    },
  };
  return sink;
}

describe("BanKeeper bulk imports", () => {
  it("publishes every entry of concurrent imports, each seal before its decisions, with a bounded number of puts in flight", async () => {
    const sink = slowBucket();
    const keeper = new BanKeeper(sink, key, config, pino({ level: "silent" }));
    const addr = (list: number, i: number) => `2001:db8:${list}::${i.toString(16)}`;
    const replies = await Promise.all(
      Array.from({ length: 6 }, (_, list) => keeper.import({ list: `l${list}`, durationSeconds: 3600, reason: "", entries: Array.from({ length: 2000 }, (_, i) => addr(list + 1, i)) })),
    );
    expect(replies.map((r) => r.published)).toEqual([2000, 2000, 2000, 2000, 2000, 2000]);
    const decisions = [...sink.stored.keys()].filter((k) => !k.startsWith(SEAL_KEY_PREFIX));
    expect(decisions).toHaveLength(12_000);
    expect(sink.maxInFlight).toBeGreaterThan(256); // bursts, not one at a time
    expect(sink.maxInFlight).toBeLessThanOrEqual(4096);
    // each decision names a seal that was written before it
    for (const k of decisions) {
      const seal = sink.stored.get(k)?.seal as string;
      expect(sink.order.indexOf(`${SEAL_KEY_PREFIX}${seal}`)).toBeLessThan(sink.order.indexOf(k));
    }
  });
});

describe("BanKeeper durations", () => {
  it.each([
    ["add", (k: BanKeeper, s: number | null) => k.add({ cidr: "203.0.113.9", durationSeconds: s, reason: "" })],
    ["import", (k: BanKeeper, s: number | null) => k.import({ list: "l", durationSeconds: s, reason: "", entries: ["203.0.113.9"] })],
  ])("%s refuses a ban longer than --max-ban, names both, and publishes nothing", async (_, call) => {
    const sink = slowBucket();
    const keeper = new BanKeeper(sink, key, config, pino({ level: "silent" }));
    const reply = await call(keeper, 400 * 86_400);
    expect(reply).toMatchObject({ ok: false, error: "a ban of 400d is longer than the controller allows (--max-ban 1d)" });
    expect(sink.stored.size).toBe(0);
    expect(await call(keeper, 86_400)).toMatchObject({ ok: true });
    expect(await call(keeper, null)).toMatchObject({ ok: true });
  });
});
