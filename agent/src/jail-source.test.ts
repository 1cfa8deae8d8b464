import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { followSource, sourceKey } from "./jail-source.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("sourceKey", () => {
  it.each([
    { source: { file: "/var/log/auth.log" }, key: "/var/log/auth.log" },
    { source: { journal: { unit: "ssh.service" } }, key: "journal:ssh.service:" },
    { source: { journal: { identifier: "sshd" } }, key: "journal::sshd" },
    { source: { journal: { unit: "ssh.service", identifier: "sshd" } }, key: "journal:ssh.service:sshd" },
  ])("$key", ({ source, key }) => expect(sourceKey(source)).toBe(key));
});

describe("followSource", () => {
  it("follows a file from its end, hands on new lines and positions under the file's key", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fw-src-"));
    dirs.push(dir);
    const path = join(dir, "auth.log");
    writeFileSync(path, "old line\n");
    const lines: string[] = [];
    const keys = new Set<string>();
    const stop = await followSource({ file: path }, { positions: {}, onLines: (l) => lines.push(...l), onPosition: (k) => keys.add(k), onJournalError: () => undefined });
    try {
      appendFileSync(path, "new line\n");
      const deadline = Date.now() + 20_000;
      // the position is handed on after the lines: wait for both
      while ((lines.length === 0 || keys.size === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(lines).toEqual(["new line"]);
      expect([...keys]).toEqual([path]);
    } finally {
      await stop();
    }
  });
});
