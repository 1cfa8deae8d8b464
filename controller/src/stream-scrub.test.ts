import { describe, expect, it } from "vitest";
import { foreignFilters } from "./stream-scrub.js";

describe("foreignFilters", () => {
  it("purges each stream by the other streams' subjects, never its own", () => {
    const subjects = new Map([
      ["KV_fleetwall-desired", ["$KV.fleetwall-desired.>"]],
      ["KV_fleetwall-bans", ["$KV.fleetwall-bans.>"]],
      ["fleetwall-signals", ["fleetwall.signal.*"]],
    ]);
    const f = foreignFilters(subjects);
    expect(f.get("KV_fleetwall-desired")).toEqual(["$KV.fleetwall-bans.>", "fleetwall.signal.*"]);
    expect(f.get("KV_fleetwall-bans")).toEqual(["$KV.fleetwall-desired.>", "fleetwall.signal.*"]);
    for (const [stream, filters] of f) for (const own of subjects.get(stream) ?? []) expect(filters).not.toContain(own);
  });

  it("a subject two streams share is purged from neither", () => {
    const f = foreignFilters(new Map([["a", ["x.>", "y.>"]], ["b", ["y.>"]]]));
    expect(f.get("a")).toEqual([]);
    expect(f.get("b")).toEqual(["x.>"]);
  });
});
