import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bansTableScript, renderBanOps } from "./bans-render.js";
import { NftError, nftBinary } from "./nft.js";
import { NftSession, SessionUnavailable } from "./nft-session.js";

const NS = `fwsess${process.pid}`;
const prefix = ["ip", "netns", "exec", NS];
const nft = nftBinary({ prefix, session: false });
const inKernel = (set: string, el: string) => nft.run(["get", "element", "inet", "fleetwall_bans", set, `{ ${el} }`]).then(() => true, () => false);
const ban = (element: string, fresh = true) => renderBanOps([{ op: "upsert", kind: "ban", family: "ip", element, timeoutSeconds: 600, fresh }]);

beforeAll(async () => {
  execFileSync("ip", ["netns", "add", NS]);
  await nft.run(["-f", "-"], bansTableScript());
});
afterAll(() => execFileSync("ip", ["netns", "del", NS]));

describe("NftSession: one long-lived nft for small ban changes", () => {
  it("applies scripts one after another, each as one transaction, and reports nft's error for the one it refuses", async () => {
    const session = new NftSession([...prefix, "nft"]);
    try {
      await session.apply(ban("203.0.113.10"));
      // refresh: add, delete and add again, three commands that must go as one transaction
      await session.apply(ban("203.0.113.10", false));
      const refused = session.apply(`${ban("203.0.113.11")}add element inet fleetwall_bans ban4 { 203.0.113.x }\n`);
      const after = session.apply(ban("203.0.113.12"));
      const error = await refused.then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(NftError);
      expect(error).not.toBeInstanceOf(SessionUnavailable);
      expect((error as NftError).stderr).toContain("203.0.113.x");
      await after;
      expect(await inKernel("ban4", "203.0.113.10")).toBe(true);
      expect(await inKernel("ban4", "203.0.113.11")).toBe(false); // the refused script changed nothing
      expect(await inKernel("ban4", "203.0.113.12")).toBe(true);
      // a long script goes through a file nft includes, with the same all-or-nothing
      const many = (from: number, n: number) => Array.from({ length: n }, (_, i) => `2001:db8:5e55::${(from + i).toString(16)}`);
      const long = (els: string[]) => renderBanOps(els.map((element) => ({ op: "upsert", kind: "ban", family: "ip6", element, timeoutSeconds: 600, fresh: true })));
      expect(long(many(0, 2000)).length).toBeGreaterThan(10_000);
      await session.apply(long(many(0, 2000)));
      const badLong = await session.apply(`${long(many(5000, 2000))}add element inet fleetwall_bans ban6 { 2001:db8::zz }\n`).then(() => undefined, (e: unknown) => e);
      expect((badLong as NftError).stderr).toContain("2001:db8::zz");
      expect(await inKernel("ban6", "2001:db8:5e55::7cf")).toBe(true);
      expect(await inKernel("ban6", "2001:db8:5e55::1388")).toBe(false);
      // many in flight at once: each answered in order
      await Promise.all(Array.from({ length: 50 }, (_, i) => session.apply(ban(`203.0.113.${100 + i}`))));
      expect(await inKernel("ban4", "203.0.113.149")).toBe(true);
    } finally {
      session.close();
    }
  });

  it("starts nft again after it was closed or killed", async () => {
    const session = new NftSession([...prefix, "nft"]);
    try {
      await session.apply(ban("203.0.113.20"));
      session.close();
      await session.apply(ban("203.0.113.21"));
      // the only process in this test's namespace is the session's nft
      const pids = execFileSync("ip", ["netns", "pids", NS]).toString().trim().split("\n").filter(Boolean);
      expect(pids).toHaveLength(1);
      for (const pid of pids) process.kill(Number(pid), "SIGKILL");
      // the kill may land before or after this script: either it is applied or it is refused as lost
      await session.apply(ban("203.0.113.22")).catch((e: unknown) => expect(e).toBeInstanceOf(SessionUnavailable));
      await session.apply(ban("203.0.113.23"));
      expect(await inKernel("ban4", "203.0.113.21")).toBe(true);
      expect(await inKernel("ban4", "203.0.113.23")).toBe(true);
    } finally {
      session.close();
    }
  });

  it("kills an nft that stops answering and refuses its script as unavailable, then starts afresh", async () => {
    // reads its input and never answers, like an nft stuck in the kernel
    const session = new NftSession(["sh", "-c", "exec cat > /dev/null"], 300);
    try {
      const started = Date.now();
      await expect(session.apply(ban("203.0.113.40"))).rejects.toBeInstanceOf(SessionUnavailable);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(session.usable).toBe(true); // it did start: not a missing interactive mode
      await expect(session.apply(ban("203.0.113.41"))).rejects.toBeInstanceOf(SessionUnavailable);
    } finally {
      session.close();
    }
  });

  it("gives up on an nft without interactive mode, and the runner falls back to nft -f", async () => {
    const session = new NftSession(["sh", "-c", "echo 'Error: no interactive CLI' >&2; exit 1"]);
    for (let i = 0; i < 3; i += 1) await expect(session.apply(ban("203.0.113.30"))).rejects.toBeInstanceOf(SessionUnavailable);
    expect(session.usable).toBe(false);
    // an nft that has -f but no -i: every quick apply still lands, through a process of its own
    const dir = mkdtempSync(join(tmpdir(), "fwsess-"));
    const binary = join(dir, "nft-without-cli");
    writeFileSync(binary, `#!/bin/sh\nif [ "$1" = -i ]; then echo 'Error: no interactive CLI' >&2; exit 1; fi\nexec nft "$@"\n`, { mode: 0o755 });
    const runner = nftBinary({ prefix, binary });
    try {
      for (let i = 0; i < 5; i += 1) await runner.transact?.(ban(`203.0.113.${31 + i}`));
      for (let i = 0; i < 5; i += 1) expect(await inKernel("ban4", `203.0.113.${31 + i}`)).toBe(true);
      expect(runner.fallbacks).toBe(5);
    } finally {
      runner.close?.();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
