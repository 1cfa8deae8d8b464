import { describe, expect, it } from "vitest";
import { HostId } from "./messages.js";
import { HOST_ID_PATTERN, hostIdFromNodeName, reportSubject } from "./subjects.js";

describe("host ids are DNS labels: FirewallHost names and single NATS subject tokens", () => {
  it.each(["web-1", "a", "0", "ip-10-0-0-1-ec2-internal", `a${"b".repeat(61)}c`])("accepts %s", (id) => {
    expect(HostId.safeParse(id).success).toBe(true);
    expect(reportSubject(id).split(".")).toHaveLength(3);
  });

  it.each([
    ["web_2", "did you mean web-2?"],
    ["ip-10-0-0-1.ec2.internal", "did you mean ip-10-0-0-1-ec2-internal?"],
    ["Web-1", "did you mean web-1?"],
    ["-web", "a DNS label"],
    ["web-", "a DNS label"],
    ["", "a DNS label"],
    [`a${"b".repeat(63)}`, "at most 63"],
    ["a*b", "a DNS label"],
    ["a>b", "a DNS label"],
  ])("refuses %j (%s)", (id, words) => {
    const r = HostId.safeParse(id);
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toContain(words);
  });

  it.each([
    ["ip-10-0-0-1.ec2.internal", "ip-10-0-0-1-ec2-internal"],
    ["node_1.example.com", "node-1-example-com"],
    ["Worker-7", "worker-7"],
    [`${"a".repeat(62)}.b`, "a".repeat(62)],
    ["...", undefined],
  ])("the node name %s gives the host id %s", (node, id) => {
    expect(hostIdFromNodeName(node)).toBe(id);
    if (id) expect(HOST_ID_PATTERN.test(id)).toBe(true);
  });
});
