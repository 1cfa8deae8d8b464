import { describe, expect, it } from "vitest";
import { firewallHostDeleted, refuseHostsDelete } from "./kube-hosts.js";

describe("a FirewallHost deleted with kubectl", () => {
  it.each([
    ["a stale host is forgotten", { lastSeen: "2026-12-06T02:00:00.000Z", stale: true }, "forget"],
    ["a host that never reported is forgotten", { lastSeen: null, stale: false }, "forget"],
    ["a host whose agent still reports is created again", { lastSeen: "2026-12-06T02:00:00.000Z", stale: false }, "recreate"],
    ["an unknown (already forgotten) host is left alone", undefined, "none"],
  ] as const)("%s", (_, row, want) => {
    expect(firewallHostDeleted(row)).toBe(want);
  });

  it("`hosts delete` in Kubernetes is refused naming the kubectl command", async () => {
    const reply = await refuseHostsDelete("web-9");
    expect(reply).toMatchObject({ ok: false, removed: [] });
    expect(reply.error).toContain("kubectl delete firewallhost web-9");
  });
});
