import { describe, expect, it } from "vitest";
import { consumerVerdict, inboxOwner } from "./consumer-guard.js";

describe("consumerVerdict", () => {
  const bans = "KV_fleetwall-bans";
  it.each<[string, string, { deliver_subject?: string; durable_name?: string }, number, string | undefined]>([
    ["an agent's catch-up", bans, { deliver_subject: "_INBOX_t1.abc.def" }, 1, undefined],
    ["the controller's watch", bans, { deliver_subject: "_INBOX.abc" }, 99, undefined],
    ["delivery into another host's desired key", bans, { deliver_subject: "$KV.fleetwall-desired.h2" }, 0, "delivers to $KV.fleetwall-desired.h2, outside any inbox"],
    ["delivery into the signals stream", "KV_fleetwall-hosts", { deliver_subject: "fleetwall.signal.h2" }, 0, "delivers to fleetwall.signal.h2, outside any inbox"],
    ["a durable on the bans stream", bans, { deliver_subject: "_INBOX_t1.x", durable_name: "d" }, 1, "a durable consumer on the bans stream"],
    ["a pull consumer on the bans stream", bans, {}, 0, "a pull consumer on the bans stream (agents catch up with push consumers to their own inbox)"],
    ["a fifth consumer of one agent", bans, { deliver_subject: "_INBOX_t1.x" }, 5, "_INBOX_t1 has more than 4 consumers on the bans stream"],
    ["the arbiter's pull consumer on the signals stream", "fleetwall-signals", { durable_name: "fleetwall-arbiter" }, 0, undefined],
  ])("%s", (_n, stream, config, count, verdict) => expect(consumerVerdict(stream, config, count)).toBe(verdict));

  it("reads the owner of an inbox subject", () => {
    expect(inboxOwner("_INBOX_t1.x")).toBe("_INBOX_t1");
    expect(inboxOwner("_INBOX_.x")).toBeUndefined();
    expect(inboxOwner("_INBOX_t1")).toBeUndefined();
  });
});
