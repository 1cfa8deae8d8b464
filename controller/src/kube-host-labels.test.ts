import { describe, expect, it } from "vitest";
import { hostLabelPatch } from "./kube-host-labels.js";

describe("a FirewallHost's label patch for an agent's proposal", () => {
  it("sets the proposed labels and removes those the agent proposed before and no longer does", () => {
    expect(hostLabelPatch('{"role":"web","zone":"a"}', { role: "db" })).toEqual({ labels: { role: "db", zone: null }, corrupt: false });
  });

  it("with no annotation, only sets the proposed labels (an operator's labels stay)", () => {
    expect(hostLabelPatch(undefined, { role: "web" })).toEqual({ labels: { role: "web" }, corrupt: false });
  });

  it.each([["{oops"], ["[]"], ["null"], ['"role=web"'], ['{"role":3}'], [""]])("a corrupt annotation %j is treated as absent, not as a failure", (text) => {
    expect(hostLabelPatch(text, { role: "web" })).toEqual({ labels: { role: "web" }, corrupt: true });
  });
});
