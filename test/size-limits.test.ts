// The size limits of STYLE.md (issue #19) as part of the suite: no source file over 300 lines and no
// function over 60 in the workspaces' src/ (scripts/size-limits.ts lists any that are).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const tsx = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url));

/**
 * Over the limits and being split by whoever is changing them now (as `<file>` or `<file> <function>`).
 * An entry that is no longer over fails the test: take it out, so the list only ever shrinks.
 */
const PENDING = ["controller/src/bus.ts", "controller/src/main.ts startLeader"];

function sizeLimits(...args: string[]): { code: number | null; lines: string[] } {
  const r = spawnSync(tsx, ["scripts/size-limits.ts", ...args], { cwd: root, encoding: "utf8", timeout: 120_000 });
  return { code: r.status, lines: `${r.stdout}${r.stderr}`.split("\n").filter(Boolean) };
}

/** `file over 300 lines: a.ts (301)` → `a.ts`; `function over 60 lines: a.ts:12 f (61)` → `a.ts f`. */
function offender(line: string): string {
  const m = /^(?:file|function) over \d+ lines: (\S+?)(?::\d+ (\S+))? \(\d+\)$/.exec(line);
  return m ? [m[1], m[2]].filter(Boolean).join(" ") : line;
}

describe("size limits", () => {
  it("no file over 300 lines, no function over 60 lines in api, runtime, controller, agent and cli src/", () => {
    const { code, lines } = sizeLimits();
    const over = lines.filter((l) => /^(?:file|function) over/.test(l));
    // the listing names what is over: it is the failure message
    expect(over.filter((l) => !PENDING.includes(offender(l)))).toEqual([]);
    expect(PENDING.filter((p) => !over.some((l) => offender(l) === p)), "no longer over the limits: remove from PENDING").toEqual([]);
    expect(code).toBe(over.length > 0 ? 1 : 0);
  });

  it("lists what is over, and fails, when the limits are lower than the code", () => {
    const { code, lines } = sizeLimits("--max-file", "20", "--max-function", "5", "api/src");
    expect(code).toBe(1);
    expect(lines).toContainEqual(expect.stringMatching(/^file over 20 lines: api\/src\/messages\.ts \(\d+\)$/));
    expect(lines).toContainEqual(expect.stringMatching(/^function over 5 lines: api\/src\/\S+\.ts:\d+ \S+ \(\d+\)$/));
    expect(offender("function over 5 lines: api/src/net.ts:12 parseCidr (9)")).toBe("api/src/net.ts parseCidr");
    expect(offender("file over 20 lines: api/src/net.ts (99)")).toBe("api/src/net.ts");
  });
});
