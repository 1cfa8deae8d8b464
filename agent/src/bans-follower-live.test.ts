import { describe, expect, it } from "vitest";
import { BANS_LIVE_PREFIX } from "@fleetwall/api";
import { BANS_STREAM, fromBansStream, judgeLive } from "./bans-live.js";

const hdrs = (values: Record<string, string>) => ({ get: (name: string) => values[name] ?? "" });
const republished = (key: string, seq: string) => hdrs({ "Nats-Stream": BANS_STREAM, "Nats-Subject": `$KV.fleetwall-bans.${key}`, "Nats-Sequence": seq, "Nats-Last-Sequence": "0" });

describe("judgeLive", () => {
  it("takes an entry the bans bucket's stream republished, with its key and revision", () => {
    expect(judgeLive(`${BANS_LIVE_PREFIX}l.203_0_113_9`, republished("l.203_0_113_9", "42"))).toEqual({ ok: true, key: "l.203_0_113_9", revision: 42 });
  });

  it.each([
    ["no headers at all", `${BANS_LIVE_PREFIX}l.a`, undefined, "no headers"],
    ["a direct get's answer from the desired-state stream", `${BANS_LIVE_PREFIX}x`, hdrs({ "Nats-Stream": "KV_fleetwall-desired", "Nats-Subject": "$KV.fleetwall-desired.h1", "Nats-Sequence": "7" }), "not from the bans bucket's stream"],
    ["a sequence and no stream", `${BANS_LIVE_PREFIX}l.a`, hdrs({ "Nats-Sequence": "7", "Nats-Subject": "$KV.fleetwall-bans.l.a" }), "not from the bans bucket's stream"],
    ["a stream named like the bans stream", `${BANS_LIVE_PREFIX}l.a`, hdrs({ "Nats-Stream": `${BANS_STREAM}x`, "Nats-Subject": "$KV.fleetwall-bans.l.a", "Nats-Sequence": "7" }), "not from the bans bucket's stream"],
    ["the bans stream with another key's subject", `${BANS_LIVE_PREFIX}l.a`, republished("l.b", "7"), "stored subject is not the live subject's key"],
    ["the bans stream with a key that only ends like it", `${BANS_LIVE_PREFIX}l.a`, republished("xl.a", "7"), "stored subject is not the live subject's key"],
    ["the bans stream with another bucket's subject", `${BANS_LIVE_PREFIX}l.a`, hdrs({ "Nats-Stream": BANS_STREAM, "Nats-Subject": "$KV.fleetwall-bansxl.a", "Nats-Sequence": "7" }), "stored subject is not the live subject's key"],
    ["the bans stream and no stored subject", `${BANS_LIVE_PREFIX}l.a`, hdrs({ "Nats-Stream": BANS_STREAM, "Nats-Sequence": "7" }), "stored subject is not the live subject's key"],
    ["no sequence", `${BANS_LIVE_PREFIX}l.a`, republished("l.a", ""), "no revision"],
    ["sequence zero", `${BANS_LIVE_PREFIX}l.a`, republished("l.a", "0"), "no revision"],
    ["a negative sequence", `${BANS_LIVE_PREFIX}l.a`, republished("l.a", "-3"), "no revision"],
    ["a sequence with a fraction", `${BANS_LIVE_PREFIX}l.a`, republished("l.a", "3.5"), "no revision"],
    ["a sequence beyond an exact number", `${BANS_LIVE_PREFIX}l.a`, republished("l.a", "99999999999999999999"), "no revision"],
    ["an empty key", BANS_LIVE_PREFIX, republished("", "7"), "not a live ban subject"],
    ["another subject", "fleetwall.lift.h1", republished("l.a", "7"), "not a live ban subject"],
  ])("drops %s", (_what, subject, headers, reason) => {
    expect(judgeLive(subject, headers)).toEqual({ ok: false, reason });
  });
});

describe("fromBansStream", () => {
  it("is true only for the bans bucket's stream", () => {
    expect(fromBansStream(BANS_STREAM)).toBe(true);
    expect(fromBansStream("KV_fleetwall-desired")).toBe(false);
    expect(fromBansStream("")).toBe(false);
    expect(fromBansStream(undefined)).toBe(false);
  });
});
