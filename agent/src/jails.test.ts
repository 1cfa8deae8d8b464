import { execFileSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JailCounter, banSeconds } from "./jail-counter.js";
import { BUILTIN_FILTERS } from "@fleetwall/api";
import { BUILTIN_NAMES, compileFilter, linear, MAX_LINE } from "./filters.js";
import { bansTableScript, renderBanOps } from "./bans-render.js";
import { nftBinary } from "./nft.js";

const jail = { name: "sshd", failRegex: [], source: { file: "/x" }, maxRetry: 3, findTimeSeconds: 600, banTimeSeconds: 3600, ignore: ["198.18.0.0/24"], share: "Fleet" as const };

describe("JailCounter", () => {
  it("bans at maxRetry within findTime, not before, and not failures outside the window", () => {
    const c = new JailCounter(jail);
    expect(c.fail("203.0.113.7", 0)).toBeUndefined();
    expect(c.fail("203.0.113.7", 1000)).toBeUndefined();
    expect(c.fail("203.0.113.7", 2000)).toMatchObject({ address: "203.0.113.7", failures: 3, banSeconds: 3600 });
    const d = new JailCounter(jail);
    d.fail("203.0.113.8", 0);
    d.fail("203.0.113.8", 1000);
    expect(d.fail("203.0.113.8", 601_000)).toBeUndefined();
  });
  it("ignores its ignore networks and canonicalises addresses", () => {
    const c = new JailCounter({ ...jail, maxRetry: 1 });
    expect(c.fail("198.18.0.5", 0)).toBeUndefined();
    expect(c.fail("::ffff:203.0.113.7", 0)?.address).toBe("203.0.113.7");
  });
  it.each([
    [1, 3600],
    [2, 7200],
    [3, 14400],
    [10, 86400],
  ])("offence %i lasts %i s with factor 2 up to a day", (n, s) => {
    expect(banSeconds({ banTimeSeconds: 3600, increment: { factor: 2, maxSeconds: 86400 } }, n)).toBe(s);
  });
});

describe("filters", () => {
  it.each([
    ["sshd[1]: Failed password for invalid user admin from 203.0.113.7 port 4000 ssh2", "203.0.113.7"],
    ["sshd[1]: Failed password for root from 2001:db8::7 port 4000 ssh2", "2001:db8::7"],
    ["sshd[1]: Invalid user bob from 203.0.113.9 port 22", "203.0.113.9"],
    ["sshd[1]: error: PAM: Authentication error for james from 203.0.113.12 via 198.18.0.1", "203.0.113.12"],
    ["sshd[1]: Failed hostbased for dan from 203.0.113.13 port 45785 ssh2: RSA 8c:e3:aa", "203.0.113.13"],
    ["sshd[1]: Failed publickey for invalid user x from 203.0.113.14 port 1 ssh2: RSA SHA256:abc", "203.0.113.14"],
    ["sshd[1]: Failed publickey for bob from 203.0.113.15 port 1 ssh2: RSA SHA256:abc", undefined],
    ["sshd[1]: error: PAM: Authentication failure for x from 192.030.0.6", "192.30.0.6"],
    ["sshd[1]: Accepted password for bob from 203.0.113.7 port 4000 ssh2", undefined],
    ["nginx: Failed password for root from 203.0.113.7 port 1 ssh2", undefined],
    // a user name that carries an address must not frame it
    ["sshd[1]: Failed password for invalid user x from 6.6.6.6 port 1 ssh2 from 203.0.113.10 port 2 ssh2", "203.0.113.10"],
    ["sshd[1]: Failed password for user from 203.0.113.16 port 20000 ssh1: ruser from 6.6.6.6", "203.0.113.16"],
  ])("sshd: %s → %s", (line, host) => expect(compileFilter("sshd", [])(line)).toBe(host));

  it("matches nginx basic auth and GoToSocial sign-in failures", () => {
    expect(compileFilter("nginx-http-auth", [])('2026/11/27 10:00:00 [error] 7#7: *1 user "bob": password mismatch, client: 203.0.113.7, server: example, request: "GET / HTTP/1.1"')).toBe("203.0.113.7");
    const gts = compileFilter("gotosocial-auth", []);
    expect(gts('timestamp="27/11/2026 10:00:00.000" func=router.loggingMiddleware level=INFO method=POST statusCode=401 path=/auth/sign_in clientIP=203.0.113.8 msg="Unauthorized"')).toBe("203.0.113.8");
    expect(gts('{"level":"INFO","statusCode":401,"path":"/auth/sign_in","clientIP":"2001:db8::8"}')).toBe("2001:db8::8");
    expect(gts("statusCode=200 path=/auth/sign_in clientIP=203.0.113.8")).toBeUndefined();
  });

  it("refuses regexes that cannot run in linear time, or lack <HOST>", () => {
    expect(() => linear("(a+)+<HOST>")).not.toThrow();
    expect(() => linear("(?<=x)<HOST>")).toThrow(/linear time/);
    expect(() => linear("from \\S+")).toThrow(/no <HOST>/);
  });

  it("stays fast on hostile input: a 100 KB line and a pathological one", () => {
    const m = compileFilter("sshd", ["^(a+)+<HOST>$"]);
    // no time is asserted: a backtracking engine would not finish before the test times out
    expect(m(`sshd ${"a".repeat(100_000)}!`)).toBeUndefined();
    // the address lies beyond MAX_LINE, which is all a filter reads of a line
    expect(m(`sshd[1]: Failed password for ${"x".repeat(MAX_LINE)} from 203.0.113.7 port 1 ssh2`)).toBeUndefined();
  });

  it("has exactly the built-in filters the policy language names", () => {
    expect([...BUILTIN_NAMES].sort()).toEqual([...BUILTIN_FILTERS].sort());
  });
});

describe("ban set scripts are accepted by nft", () => {
  const NS = `fwbans${process.pid}`;
  const nft = nftBinary({ prefix: ["ip", "netns", "exec", NS] });
  beforeAll(() => execFileSync("ip", ["netns", "add", NS]));
  afterAll(() => execFileSync("ip", ["netns", "del", NS]));

  it("creates the table, adds, refreshes and removes elements of every kind", async () => {
    await nft.run(["-f", "-"], bansTableScript());
    await nft.run(["-f", "-"], renderBanOps([
      { op: "upsert", kind: "ban", family: "ip", element: "203.0.113.7", timeoutSeconds: 60, fresh: true },
      { op: "upsert", kind: "net", family: "ip6", element: "2001:db8:bad::/48", timeoutSeconds: 60, fresh: true },
      { op: "upsert", kind: "allow", family: "ip", element: "198.18.0.0/24", fresh: true },
    ]));
    await nft.run(["-f", "-"], renderBanOps([
      { op: "upsert", kind: "ban", family: "ip", element: "203.0.113.7", timeoutSeconds: 3600 },
      { op: "remove", kind: "net", family: "ip6", element: "2001:db8:bad::/48" },
      { op: "remove", kind: "ban", family: "ip", element: "203.0.113.99" },
    ]));
    const listed = await nft.run(["list", "table", "inet", "fleetwall_bans"]);
    expect(listed).toMatch(/203\.0\.113\.7 timeout 1h expires (59m|1h)/);
    expect(listed).not.toContain("2001:db8:bad::/48");
    expect(listed).toContain("198.18.0.0/24");
  });
});

