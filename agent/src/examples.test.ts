import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile, parseManifestText, policiesOf } from "@fleetwall/controller";
import { NftBackend } from "./enforcer.js";
import { listTable, nftBinary } from "./nft.js";
import { FAMILY, TABLE } from "./render.js";

// Every example policy is applied for real to a namespace of this file's own, then read back.
const NS = `fwexamples${process.pid}`;
const nft = nftBinary({ prefix: ["ip", "netns", "exec", NS] });
const dir = new URL("../../examples/", import.meta.url);
const examples = readdirSync(dir).filter((f) => f.endsWith(".yaml"));

beforeAll(() => {
  execFileSync("ip", ["netns", "add", NS]);
});
afterAll(() => {
  execFileSync("ip", ["netns", "del", NS]);
});

describe("examples/", () => {
  it("has the examples the guides call for", () => {
    expect(examples).toEqual(expect.arrayContaining(["web-server.yaml", "gotosocial.yaml", "mail-server.yaml", "internal-service.yaml", "ssh-jail.yaml", "banlist.yaml"]));
  });

  it.each(examples)("%s is valid, and its policies select a host by its labels and apply", async (file) => {
    const parsed = parseManifestText(file, readFileSync(new URL(file, dir), "utf8"));
    expect(parsed.errors).toEqual([]);
    expect(parsed.resources.length).toBeGreaterThan(0);
    if (policiesOf(parsed.resources).length === 0) return; // a file of BanLists
    const labels = policiesOf(parsed.resources)[0]?.spec.hostSelector.matchLabels ?? {};
    const host = compile(policiesOf(parsed.resources), [{ id: "h", labels }]).hosts.get("h");
    expect(host?.ruleset.policies.length).toBeGreaterThan(0);
    const enforcer = new NftBackend(nft, { sshPorts: [22], sshSources: { ip: [], ip6: [] }, nats: [], dhcp: true });
    await enforcer.apply(host!.ruleset);
    const listed = await listTable(nft, FAMILY, TABLE);
    const chains = (listed ?? []).filter((o) => o.chain).map((o) => String(o.chain?.name));
    for (const p of policiesOf(parsed.resources)) expect(chains).toContain(`in_${p.metadata.name}`);
  });
});
