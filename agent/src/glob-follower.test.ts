import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { FollowPosition } from "./file-follower.js";
import { BadLogGlob, GlobFollower, globRegex, MAX_GLOB_FILES, TooManyLogFiles } from "./glob-follower.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "fw-glob-"));
  dirs.push(d);
  return d;
};
const until = async (ok: () => boolean) => {
  const deadline = Date.now() + 20_000;
  while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
};

describe("globRegex", () => {
  it.each([
    ["*error.log", "error.log", true],
    ["*error.log", "site-error.log", true],
    ["*error.log", "error.log.1", false],
    ["*error.log", "access.log", false],
    ["access?.log", "access1.log", true],
    ["access?.log", "access.log", false],
    ["[ab].log", "a.log", true],
    ["[!ab].log", "a.log", false],
    ["[!ab].log", "c.log", true],
    ["a.b", "axb", false],
  ])("%s matches %s: %s", (glob, name, want) => expect(globRegex(glob).test(name)).toBe(want));
});

describe("GlobFollower", () => {
  const follower = (pattern: string, lines: string[], keys: Map<string, FollowPosition>, errors: Error[] = [], saved: Record<string, FollowPosition> = {}) =>
    new GlobFollower({ pattern, saved: (p) => saved[p], pollMs: 100, rescanMs: 100, onLines: (l) => lines.push(...l), onPosition: (p, pos) => keys.set(p, pos), onError: (e) => errors.push(e) });

  it("follows every matching file from its end, and a file that appears later from its start, each under its own key", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "error.log"), "old a\n");
    writeFileSync(join(dir, "site-error.log"), "old b\n");
    writeFileSync(join(dir, "access.log"), "old c\n");
    const lines: string[] = [];
    const keys = new Map<string, FollowPosition>();
    const f = follower(join(dir, "*error.log"), lines, keys);
    await f.start();
    try {
      expect(f.files).toEqual([join(dir, "error.log"), join(dir, "site-error.log")]);
      appendFileSync(join(dir, "error.log"), "new a\n");
      appendFileSync(join(dir, "site-error.log"), "new b\n");
      appendFileSync(join(dir, "access.log"), "new c\n");
      writeFileSync(join(dir, "late-error.log"), "late 1\nlate 2\n");
      await until(() => lines.length >= 4);
      expect([...lines].sort()).toEqual(["late 1", "late 2", "new a", "new b"]);
      await until(() => keys.size >= 3);
      expect([...keys.keys()].sort()).toEqual([join(dir, "error.log"), join(dir, "late-error.log"), join(dir, "site-error.log")]);
      expect(keys.get(join(dir, "late-error.log"))?.offset).toBe("late 1\nlate 2\n".length);
    } finally {
      await f.stop();
    }
  });

  it("starts each file from its own saved position", async () => {
    const dir = tmp();
    const path = join(dir, "x-error.log");
    writeFileSync(path, "seen\nunseen\n");
    const { statSync } = await import("node:fs");
    const lines: string[] = [];
    const f = follower(join(dir, "*error.log"), lines, new Map(), [], { [path]: { inode: statSync(path).ino, offset: "seen\n".length } });
    await f.start();
    try {
      await until(() => lines.length >= 1);
      expect(lines).toEqual(["unseen"]);
    } finally {
      await f.stop();
    }
  });

  it(`follows at most ${MAX_GLOB_FILES} files and says so`, async () => {
    const dir = tmp();
    for (let i = 0; i < MAX_GLOB_FILES + 1; i++) writeFileSync(join(dir, `${String(i).padStart(3, "0")}.log`), "");
    const errors: Error[] = [];
    const f = follower(join(dir, "*.log"), [], new Map(), errors);
    await f.start();
    try {
      expect(f.files).toHaveLength(MAX_GLOB_FILES);
      expect(f.files).not.toContain(join(dir, `${MAX_GLOB_FILES}.log`));
      expect(errors[0]).toBeInstanceOf(TooManyLogFiles);
      expect(errors[0]?.message).toMatch(/matches 65 files; only the first 64/);
    } finally {
      await f.stop();
    }
  });

  it("refuses a glob in a directory name", () => {
    expect(() => follower("/var/log/*/error.log", [], new Map())).toThrow(BadLogGlob);
  });
});

describe("a jail's file source", () => {
  it.each([
    ["/var/log/nginx/*error.log", true],
    ["/var/log/auth.log", true],
    ["/var/log/*/error.log", false],
  ])("%s accepted: %s", async (file, ok) => {
    const { JailSource } = await import("@fleetwall/api");
    const r = JailSource.safeParse({ file });
    expect(r.success).toBe(ok);
    if (!ok) expect(r.error?.issues[0]?.message).toMatch(/only be in the file name/);
  });
});
