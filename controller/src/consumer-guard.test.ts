import { describe, expect, it } from "vitest";
import { consumerVerdict, inboxOwner, overCap } from "./consumer-guard.js";

describe("consumerVerdict", () => {
  const bans = "KV_fleetwall-bans";
  it.each<[string, string, { deliver_subject?: string; durable_name?: string }, string | undefined]>([
    ["an agent's catch-up", bans, { deliver_subject: "_INBOX_t1.abc.def" }, undefined],
    ["the controller's watch", bans, { deliver_subject: "_INBOX.abc" }, undefined],
    ["delivery into another host's desired key", bans, { deliver_subject: "$KV.fleetwall-desired.h2" }, "delivers to $KV.fleetwall-desired.h2, outside any inbox"],
    ["delivery into the signals stream", "KV_fleetwall-hosts", { deliver_subject: "fleetwall.signal.h2" }, "delivers to fleetwall.signal.h2, outside any inbox"],
    ["a durable on the bans stream", bans, { deliver_subject: "_INBOX_t1.x", durable_name: "d" }, "a durable consumer on the bans stream"],
    ["a pull consumer on the bans stream", bans, {}, "a pull consumer on the bans stream (agents catch up with push consumers to their own inbox)"],
    ["the arbiter's pull consumer on the signals stream", "fleetwall-signals", { durable_name: "fleetwall-arbiter" }, undefined],
  ])("%s", (_n, stream, config, verdict) => expect(consumerVerdict(stream, config)).toBe(verdict));

  it("keeps an agent's newest four consumers, never caps the controller's or operators' inbox", () => {
    const owners = new Map([["a", "_INBOX_t1"], ["x", "_INBOX"], ["b", "_INBOX_t1"], ["c", "_INBOX_t2"], ["d", "_INBOX_t1"], ["e", "_INBOX_t1"], ["f", "_INBOX_t1"], ["g", "_INBOX_t1"]]);
    expect(overCap(owners, "_INBOX_t1")).toEqual(["a", "b"]);
    expect(overCap(owners, "_INBOX_t2")).toEqual([]);
    expect(overCap(new Map(Array.from({ length: 9 }, (_, i) => [`n${i}`, "_INBOX"])), "_INBOX")).toEqual([]);
  });

  it("reads the owner of an inbox subject", () => {
    expect(inboxOwner("_INBOX_t1.x")).toBe("_INBOX_t1");
    expect(inboxOwner("_INBOX_.x")).toBeUndefined();
    expect(inboxOwner("_INBOX_t1")).toBeUndefined();
  });
});
