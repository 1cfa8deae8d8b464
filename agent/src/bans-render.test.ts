import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bansTableScript, MAX_TIMEOUT_MS, renderBanOps, timeoutMs, timeoutText } from "./bans-render.js";
import { checkScript, nftBinary } from "./nft.js";

// `nft -c` in a namespace of this file's own: the timeouts the agent writes are ones nft accepts.
const NS = `fwbansrender${process.pid}`;
const nft = nftBinary({ prefix: ["ip", "netns", "exec", NS] });
beforeAll(() => {
  execFileSync("ip", ["netns", "add", NS]);
});
afterAll(() => {
  execFileSync("ip", ["netns", "del", NS]);
});

const DAY = 86_400;

describe("ban timeouts", () => {
  it.each([
    [0.0001, "1ms"],
    [1, "1s"],
    [90.5, "1m30s500ms"],
    [2 * DAY, "2d"],
    [30 * DAY + 3661, "30d1h1m1s"],
  ])("%s s is written %s", (seconds, text) => expect(timeoutText(timeoutMs(seconds))).toBe(text));

  it("never gives the kernel more than MAX_TIMEOUT_MS (below 2^32 s)", () => {
    expect(timeoutMs(60_000 * DAY)).toBe(MAX_TIMEOUT_MS);
    expect(timeoutMs(Number.MAX_SAFE_INTEGER)).toBe(MAX_TIMEOUT_MS);
    expect(MAX_TIMEOUT_MS / 1000).toBeLessThan(2 ** 32);
  });

  // 2 days was once written `172800000ms`, which nft 1.0 refuses ("value too large")
  it.each([1, 3600, 2 * DAY, 30 * DAY, 3650 * DAY, 60_000 * DAY, (Date.parse("2300-01-01T00:00:00Z") - Date.now()) / 1000])("nft accepts a ban of %s s, in a rebuild and in a delta", async (seconds) => {
    const element = { kind: "ban" as const, family: "ip" as const, element: "203.0.113.7", timeoutSeconds: seconds };
    await expect(checkScript(nft, bansTableScript([element]))).resolves.toBeUndefined();
    const delta = renderBanOps([{ op: "upsert", ...element }, { op: "upsert", ...element, element: "203.0.113.8", fresh: true }]);
    await expect(checkScript(nft, `${bansTableScript()}${delta}`)).resolves.toBeUndefined();
  });
});
