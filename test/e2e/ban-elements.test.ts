// Issue #17: `bans list --host H` element-level on request. The operator asks one agent, over its
// own NATS subject, for the elements its kernel's ban sets hold now; the CLI marks each against the
// decisions. A kernel changed behind the agent's back (before drift repair, or where drift repair
// does not look) is reported as it is; only the host itself can answer for itself.
import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SCHEMA_VERSION, elementsSubject, type ElementRow } from "@fleetwall/api";
import { attacker } from "../harness/netns.js";
import { CLI, type FleetHost } from "../harness/fleet.js";
import { securedFleet, type SecuredFleet } from "../harness/secured-fleet.js";
import { waitFor } from "../harness/sh.js";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI, with its exit code (it exits 1 when the kernel differs from the decisions). */
const run = (args: string[], timeoutMs = 60_000) =>
  new Promise<Run>((resolve) => {
    execFile("node", [CLI, ...args], { timeout: timeoutMs, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
  });

describe("bans list --host H --elements on a secured fleet", () => {
  let s: SecuredFleet;
  let e1: FleetHost;
  let e2: FleetHost;
  const X = attacker(1);
  const HAND = attacker(7);

  const elements = async (host: string, extra: string[] = []) => run(["bans", "list", "--host", host, "--elements", ...extra, ...s.operator]);
  const rowsOf = (r: Run) => (JSON.parse(r.stdout) as { elements: { comparison: { rows: ElementRow[] } } }).elements.comparison.rows;
  const row = (rows: ElementRow[], element: string) => rows.find((r) => r.element === element);

  beforeAll(async () => {
    // drift repair every 10 minutes: what is changed by hand stays changed while the test looks
    s = await securedFleet(["e1", "e2"], { attackers: 8, agent: () => ["--drift-interval", "10m"] });
    [e1, e2] = s.fleet.hosts as [FleetHost, FleetHost];
    await s.fleet.cli(["bans", "add", X, "--reason", "elements test", ...s.operator]);
    await waitFor(`${X} banned on e1`, () => s.banned(e1, X), 30_000, 100);
    // and reported: a listing's first line is e1's last report, a heartbeat behind its kernel
    await waitFor("e1's report of the ban", async () => /^host e1: enforces 1 decisions/m.test((await elements("e1")).stdout), 30_000, 200);
  }, 180_000);

  afterAll(async () => {
    await s?.destroy();
  });

  it("lists the kernel's elements, the fleet's ban in force and the host's own allow entries, and exits 0 when all agree", async () => {
    const r = await elements("e1", ["--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const rows = rowsOf(r);
    expect(row(rows, X)).toMatchObject({ set: "ban4", state: "in force", from: ["cli"] });
    // the host's own addresses and the special networks are its own allow entries, not extras
    expect(row(rows, e1.ip4)).toMatchObject({ set: "allow4", state: "own" });
    expect(row(rows, "127.0.0.0/8")).toMatchObject({ set: "allow4", state: "own" });
    expect(rows.filter((x) => x.state !== "in force" && x.state !== "own" && x.state !== "covered")).toEqual([]);
    // the head line is the controller's view, from e1's reports (one a second here): it follows the kernel
    const text = await waitFor("e1's report of its ban", async () => {
      const x = await elements("e1");
      return /^host e1: enforces 1 decisions/m.test(x.stdout) ? x : undefined;
    }, 30_000, 500).catch(async () => elements("e1"));
    expect(text.stdout).toMatch(/^host e1: enforces 1 decisions/m);
    expect(text.stdout).toMatch(new RegExp(`^ban4\\s+${X.replaceAll(".", "\\.")}\\s+in force\\s`, "m"));
  }, 60_000);

  it("pages: --limit cuts the answer short and says where the next page starts; the pages hold what one listing does", async () => {
    const full = rowsOf(await elements("e1", ["--json", "--limit", "5000"]));
    const paged = new Map<string, string>();
    let after: string | undefined;
    let pages = 0;
    do {
      const r = await elements("e1", ["--json", "--limit", "4", ...(after ? ["--after", after] : [])]);
      expect(r.code).toBe(0);
      const e = (JSON.parse(r.stdout) as { elements: { next?: { set: string; element: string }; comparison: { rows: ElementRow[] } } }).elements;
      for (const x of e.comparison.rows) paged.set(`${x.set} ${x.element}`, x.state);
      after = e.next ? `${e.next.set}:${e.next.element}` : undefined;
      pages += 1;
    } while (after && pages < 30);
    expect(pages).toBeGreaterThan(2);
    expect(paged).toEqual(new Map(full.map((x) => [`${x.set} ${x.element}`, x.state])));
    const text = await elements("e1", ["--limit", "2"]);
    expect(text.stdout).toMatch(/^next page: --after allow4:\S+$/m);
  }, 120_000);

  it("reports an element deleted by hand as MISSING and one added by hand as EXTRA, before any repair, and exits 1", async () => {
    await s.fleet.nft(e1, ["delete", "element", "inet", "fleetwall_bans", "ban4", `{ ${X} }`]);
    await s.fleet.nft(e1, ["add", "element", "inet", "fleetwall_bans", "net4", `{ ${HAND}/32 }`]);
    const r = await elements("e1", ["--json"]);
    expect(r.code).toBe(1);
    const rows = rowsOf(r);
    expect(row(rows, X)).toMatchObject({ set: "ban4", state: "MISSING", from: ["cli"] });
    expect(row(rows, HAND)).toMatchObject({ set: "net4", state: "EXTRA", from: [] });
    // the digest the host reports is of its decisions, which did not change: only the listing shows it
    const truth = (JSON.parse(r.stdout) as { host: { state: string } }).host;
    expect(truth.state).toBe("InSync");
    const text = await elements("e1");
    expect(text.stdout).toMatch(/ \+ 1 EXTRA; not in its sets: \d+ covered \(inside a network it holds\), 1 MISSING, 0 REFUSED/);
    // the other host still holds everything
    expect((await elements("e2")).code).toBe(0);
    await s.fleet.nft(e1, ["delete", "element", "inet", "fleetwall_bans", "net4", `{ ${HAND}/32 }`]);
    await s.fleet.nft(e1, ["add", "element", "inet", "fleetwall_bans", "ban4", `{ ${X} }`]);
    expect((await elements("e1")).code).toBe(0);
  }, 60_000);

  it("a network nft refuses (it overlaps one added by hand) is REFUSED with nft's reason, and the hand-made one EXTRA", async () => {
    const HAND_NET = "203.0.113.128/26";
    const BANNED = "203.0.113.128/27";
    await s.fleet.nft(e1, ["add", "element", "inet", "fleetwall_bans", "net4", `{ ${HAND_NET} }`]);
    try {
      await s.fleet.cli(["bans", "add", BANNED, "--reason", "overlaps by hand on e1", ...s.operator]);
      await waitFor(`${BANNED} in e2's kernel`, () => s.fleet.nft(e2, ["get", "element", "inet", "fleetwall_bans", "net4", `{ ${BANNED} }`]).then(() => true, () => false), 30_000, 100);
      const r = await waitFor("e1 listing the refusal", async () => {
        const x = await elements("e1", ["--json"]);
        return row(rowsOf(x), BANNED)?.state === "REFUSED" ? x : undefined;
      }, 30_000, 200);
      expect(r.code).toBe(1);
      expect(row(rowsOf(r), BANNED)).toMatchObject({ set: "net4", from: ["cli"], detail: expect.stringMatching(/interval overlaps|exists/i) });
      expect(row(rowsOf(r), HAND_NET)).toMatchObject({ set: "net4", state: "EXTRA" });
      // the head line is the controller's view, from e1's reports: it follows within a report or two
      const text = await waitFor("e1's report of the refusal", async () => {
        const x = await elements("e1");
        return /^host e1: .*: nft REFUSED/m.test(x.stdout) ? x : undefined;
      }, 30_000, 500).catch(async () => elements("e1"));
      expect(text.stdout).toMatch(/^net4\s+203\.0\.113\.128\/27\s+REFUSED\s+-\s+never\s+cli\s+\S/m);
      expect(text.stdout).toMatch(/^host e1: .*: nft REFUSED 1 element\(s\): 203\.0\.113\.128\/27/m);
      // e2's kernel took it
      expect(row(rowsOf(await elements("e2", ["--json"])), BANNED)).toMatchObject({ state: "in force" });
    } finally {
      await s.fleet.nft(e1, ["delete", "element", "inet", "fleetwall_bans", "net4", `{ ${HAND_NET} }`]).catch(() => undefined);
      await s.fleet.cli(["bans", "delete", BANNED, ...s.operator]).catch(() => undefined);
    }
  }, 90_000);

  it("another agent's credentials can neither ask for a host's elements nor hear or answer its requests", async () => {
    const other = await s.as("agent-e2");
    const body = JSON.stringify({ schemaVersion: SCHEMA_VERSION, limit: 10 });
    // asking: the server refuses the publish, and the request fails with its reason
    await expect(other.request(elementsSubject("e1"), body, { timeout: 5_000 })).rejects.toMatchObject({ cause: { name: "PermissionViolationError" } });
    // hearing e1's requests: the subscription is refused
    const sub = other.subscribe(elementsSubject("e1"));
    const ended = await Promise.race([sub.closed.then((e) => String(e ?? "closed without error"), (e: unknown) => String(e)), new Promise((r) => setTimeout(() => r("still open"), 5_000))]);
    expect(String(ended)).toMatch(/permission/i);
    // answering on the operator's inbox without a request to answer: refused too
    const errors: string[] = [];
    void (async () => {
      for await (const st of other.status()) if (st.type === "error") errors.push(String(st.error));
    })();
    other.publish("_INBOX.forged.reply", JSON.stringify({ forged: true }));
    await other.flush();
    await waitFor("the server's refusal", () => errors.some((e) => e.includes("_INBOX.forged.reply")), 5_000, 20);
    // its own subject answers its own operator's request; the operator may ask any host
    const operator = await s.as("operator");
    const own = JSON.parse((await operator.request(elementsSubject("e2"), body, { timeout: 10_000 })).string()) as { hostId: string };
    expect(own.hostId).toBe("e2");
    // nothing any fleetwall process did was refused on the way
    expect(s.fleet.nats.proc.log().split("\n").filter((l) => /Violation/.test(l) && !/forged|elements\.e1/.test(l))).toEqual([]);
  }, 60_000);

  it("says in one line when the host does not answer in time, and when no agent of it listens", async () => {
    const pid = e2.agent?.child.pid as number;
    process.kill(pid, "SIGSTOP");
    try {
      const r = await elements("e2", ["--timeout", "2s"]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^fleetwall: host e2: no answer within 2s \(is it STALE in `fleetwall status`\?/);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    } finally {
      process.kill(pid, "SIGCONT");
    }
    process.kill(pid, "SIGKILL");
    await e2.agent?.exited;
    const gone = await elements("e2", ["--timeout", "2s"]);
    expect(gone.code).toBe(1);
    // (e2 may have missed its heartbeats while stopped: then it is already stale). The request
    // crosses from FLEET into AGENTS by a service import, through which nats-server 2.9 sends no
    // "no responders" status: until e2 is stale, the CLI can only say it had no answer in time
    expect(gone.stderr).toMatch(/^fleetwall: host e2: (no agent listens for element requests|no answer; it is STALE|no answer within 2s \(is it STALE)/);
    // once it has missed its heartbeats, the line says it is stale
    await waitFor("e2 stale", async () => (await s.fleet.status()).hosts.find((h) => h.id === "e2")?.stale, 30_000, 200);
    const stale = await elements("e2", ["--timeout", "2s"]);
    expect(stale).toMatchObject({ code: 1, stderr: "fleetwall: host e2: no answer; it is STALE (it stopped reporting: `fleetwall status`)\n" });
    const bad = await elements("e1", ["--limit", "0"]);
    expect(bad).toMatchObject({ code: 2 });
    expect(bad.stderr).toMatch(/--limit/);
  }, 60_000);
});
