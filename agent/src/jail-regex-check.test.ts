import { describe, expect, it } from "vitest";
import { compileFinder } from "./filters.js";
import { jailRegexIssues, type JailRegexes } from "./jail-regex-check.js";

/** What the agent does with the jail: compiles it (as a jail does on start) or throws. */
const agentRefuses = (jail: JailRegexes): boolean => {
  try {
    compileFinder({ ...jail, failRegex: jail.failRegex ?? [] });
    return false;
  } catch {
    return true;
  }
};

describe("a jail's regexes, compiled as the agent compiles them", () => {
  it.each<[string, JailRegexes, (string | number)[][], RegExp]>([
    ["an unterminated group, fail2ban fields", { datePattern: "{^LN-BEG}", failRegex: ["limiting (requests client: <HOST>,"] }, [["failRegex", 0]], /Unterminated group|missing \)/i],
    ["an unterminated group, plain", { failRegex: ["ok <HOST>", "bad (x <HOST>"] }, [["failRegex", 1]], /^does not parse: Unterminated group$/],
    ["a backreference, plain: not linear-time", { failRegex: ["(a)\\1 <HOST>"] }, [["failRegex", 0]], /cannot run in linear time/],
    ["an ignoreRegex that does not parse", { maxLines: 1, failRegex: ["x <HOST>"], ignoreRegex: ["ok", "[unclosed"] }, [["ignoreRegex", 1]], /.+/],
    ["a prefRegex that does not parse", { prefRegex: "^(?P<content>.+", failRegex: ["x <HOST>"] }, [["prefRegex"]], /.+/],
    ["a datePattern that does not parse", { datePattern: "(%Y", failRegex: ["x <HOST>"] }, [["datePattern"]], /.+/],
  ])("%s is refused, by field", (_, jail, paths, why) => {
    const issues = jailRegexIssues(jail);
    expect(issues.map((i) => i.path)).toEqual(paths);
    for (const i of issues) expect(i.message).toMatch(why);
    // validation refuses exactly what the agent refuses
    expect(agentRefuses(jail)).toBe(true);
  });

  it.each<[string, JailRegexes]>([
    ["a plain fail-regex", { failRegex: ["Failed login from <HOST>"] }],
    ["fail2ban's fields", { prefRegex: "^%(__prefix_line)s?(?P<content>.+)$".replace("%(__prefix_line)s", "x "), failRegex: ["^limiting requests, excess: [\\d.]+ by zone \"\\w+\", client: <HOST>,"], ignoreRegex: ["^ok"], datePattern: "{^LN-BEG}", maxLines: 2 }],
    ["no regexes at all", {}],
  ])("%s passes, and the agent compiles it", (_, jail) => {
    expect(jailRegexIssues(jail)).toEqual([]);
    if (jail.failRegex) expect(agentRefuses(jail)).toBe(false);
  });
});
