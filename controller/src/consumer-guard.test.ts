import { describe, expect, it } from "vitest";
import { MAX_CONSUMERS_SHARED_INBOX, consumerVerdict, inboxOwner, overCap, unlistenedLevel } from "./consumer-guard.js";

describe("consumerVerdict", () => {
  const bans = "KV_fleetwall-bans";
  it.each<[string, string, { deliver_subject?: string; durable_name?: string }, string | undefined]>([
    ["an agent's catch-up", bans, { deliver_subject: "_INBOX_t1.abc.def" }, undefined],
    ["the controller's watch", bans, { deliver_subject: "_INBOX.abc" }, undefined],
    ["delivery into another host's desired key", bans, { deliver_subject: "$KV.fleetwall-desired.h2" }, "delivers to $KV.fleetwall-desired.h2, outside any inbox"],
    ["delivery into the signals stream", "KV_fleetwall-hosts", { deliver_subject: "fleetwall.signal.h2" }, "delivers to fleetwall.signal.h2, outside any inbox"],
    ["a durable on the bans stream", bans, { deliver_subject: "_INBOX_t1.x", durable_name: "d" }, "a durable consumer on the bans stream"],
    ["a pull consumer on the bans stream", bans, {}, "a pull consumer on the bans stream (watches of the bucket are push consumers to an inbox)"],
    ["the arbiter's pull consumer on the signals stream", "fleetwall-signals", { durable_name: "fleetwall-arbiter" }, undefined],
  ])("%s", (_n, stream, config, verdict) => expect(consumerVerdict(stream, config)).toBe(verdict));

  const own = (list: [string, string, boolean?][]) => new Map(list.map(([n, owner, bound]) => [n, { owner, bound: bound ?? true }]));
  it("keeps an agent's first four listened-to consumers: the newest over the cap go, unlistened ones first", () => {
    const owners = own([["a", "_INBOX_t1"], ["x", "_INBOX"], ["b", "_INBOX_t1"], ["c", "_INBOX_t2"], ["d", "_INBOX_t1"], ["e", "_INBOX_t1"], ["f", "_INBOX_t1"], ["g", "_INBOX_t1"]]);
    expect(overCap(owners, "_INBOX_t1").sort()).toEqual(["f", "g"]);
    expect(overCap(owners, "_INBOX_t2")).toEqual([]);
  });

  it("an agent flooding another's inbox prefix cannot get that agent's consumer in use deleted", () => {
    // h2's catch-up in use (bound, oldest), then t1's consumers delivering to _INBOX_h2.… nobody listens to
    const owners = own([["real", "_INBOX_h2", true], ...Array.from({ length: 6 }, (_, i): [string, string, boolean] => [`atk${i}`, "_INBOX_h2", false])]);
    const gone = overCap(owners, "_INBOX_h2");
    expect(gone).toHaveLength(3);
    expect(gone).not.toContain("real");
    // an older unlistened one goes before a newer listened one
    expect(overCap(own([["old", "_INBOX_h2", false], ["b", "_INBOX_h2"], ["c", "_INBOX_h2"], ["d", "_INBOX_h2"], ["e", "_INBOX_h2"]]), "_INBOX_h2")).toEqual(["old"]);
  });

  it("caps the shared _INBOX too, at a larger count, keeping the controller's listened-to consumer", () => {
    const owners = own([["controller", "_INBOX", true], ...Array.from({ length: 70 }, (_, i): [string, string, boolean] => [`atk${i}`, "_INBOX", false])]);
    const gone = overCap(owners, "_INBOX");
    expect(gone).toHaveLength(71 - MAX_CONSUMERS_SHARED_INBOX);
    expect(gone).not.toContain("controller");
    expect(gone[0]).toBe("atk69");
  });

  it("reads the owner of an inbox subject", () => {
    expect(inboxOwner("_INBOX_t1.x")).toBe("_INBOX_t1");
    expect(inboxOwner("_INBOX_.x")).toBeUndefined();
    expect(inboxOwner("_INBOX_t1")).toBeUndefined();
  });
});

describe("unlistenedLevel", () => {
  it("logs an unlistened consumer on the shared _INBOX (a CLI that left) at info, on an agent's inbox or elsewhere at warn", () => {
    expect(unlistenedLevel("_INBOX.abc.def")).toBe("info");
    expect(unlistenedLevel("_INBOX_web-1.abc")).toBe("warn");
    expect(unlistenedLevel("fleetwall.report.web-1")).toBe("warn");
    expect(unlistenedLevel(undefined)).toBe("warn");
  });
});
