import { describe, expect, it } from "vitest";
import { AgentConfig } from "./config.js";

const base = { nats: "nats://127.0.0.1:4222", stateDir: "/tmp/x" };

describe("the agent's host id", () => {
  it("is derived from a dotted Kubernetes node name when --host-id is absent (the chart's agents)", () => {
    expect(AgentConfig.parse({ ...base, hostIdFromNode: "ip-10-0-0-1.ec2.internal" }).hostId).toBe("ip-10-0-0-1-ec2-internal");
  });
  it("is --host-id when given", () => expect(AgentConfig.parse({ ...base, hostId: "web-1", hostIdFromNode: "other.node" }).hostId).toBe("web-1"));
  it.each([["web_2", "did you mean web-2?"], ["ip-10-0-0-1.ec2.internal", "did you mean ip-10-0-0-1-ec2-internal?"]])("refuses --host-id %s, naming the field (%s)", (hostId, words) => {
    const r = AgentConfig.safeParse({ ...base, hostId });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(["hostId"]);
    expect(r.error?.issues[0]?.message).toContain(words);
  });
  it("refuses neither given", () => expect(AgentConfig.safeParse(base).error?.issues[0]?.path).toEqual(["hostId"]));
});
