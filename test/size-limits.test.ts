// The size limits of STYLE.md (issue #19) as part of the suite: no source file over 300 lines and no
// function over 60 in the workspaces' src/ (scripts/size-limits.ts lists any that are).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const tsx = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url));

function sizeLimits(...args: string[]): { code: number | null; lines: string[] } {
  const r = spawnSync(tsx, ["scripts/size-limits.ts", ...args], { cwd: root, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, lines: `${r.stdout}${r.stderr}`.split("\n").filter(Boolean) };
}

describe("size limits", () => {
  it("no file over 300 lines, no function over 60 lines in api, runtime, controller, agent and cli src/", () => {
    const { code, lines } = sizeLimits();
    // the listing names what is over: it is the failure message
    expect(lines.filter((l) => /^(?:file|function) over/.test(l))).toEqual([]);
    expect(code).toBe(0);
  });

  it("lists what is over, and fails, when the limits are lower than the code", () => {
    const { code, lines } = sizeLimits("--max-file", "20", "--max-function", "5", "api/src");
    expect(code).toBe(1);
    expect(lines).toContainEqual(expect.stringMatching(/^file over 20 lines: api\/src\/messages\.ts \(\d+\)$/));
    expect(lines).toContainEqual(expect.stringMatching(/^function over 5 lines: api\/src\/\S+\.ts:\d+ \S+ \(\d+\)$/));
  });
});
