// Per-host ban truth, without root: the agent's BanSync on the in-memory backend (nftables'
// semantics: atomic batches, interval sets refuse overlaps, elements expire) against the decisions
// it was given, through any sequence of adds, deletes, expiries, agent restarts and lost tables.
import fc from "fast-check";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ElementsReply, banEpoch, banKey, banSetName, cidrContains, compareKernel, expectedFromDecisions, parseCidr, type BanDecision, type Family } from "@fleetwall/api";
import { BanSync, MemoryBackend, decisionEntry, elementsReply } from "../agent/src/index.js";
import { expectedBans } from "../controller/src/ban-truth.js";

const log = pino({ level: "silent" });
const EPOCH = 10_000;
const START = Date.parse("2026-12-01T00:00:00Z");

const CIDRS = ["10.77.0.240/29", "10.77.0.224/27", "10.77.0.248/29", "10.77.0.0/24", "10.77.0.230", "10.77.0.241", "10.77.1.0/25", "10.77.1.128/25", "2001:db8::/64", "2001:db8::/48", "2001:db8::1", "2001:db8:1::7"];
const LOCALS = ["203.0.113.5", "203.0.113.6", "2001:db8:f::1"];

type Op =
  | { t: "put"; list: string; cidr: string; allow: boolean; ttl: number | null }
  | { t: "delete"; list: string; cidr: string }
  | { t: "advance"; ms: number }
  | { t: "restart" }
  | { t: "lose" }
  | { t: "flush"; kind: "ban" | "net" | "allow" | "local"; family: Family }
  | { t: "local"; address: string; seconds: number }
  | { t: "lift"; address: string };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant("put" as const), list: fc.constantFrom("a", "b"), cidr: fc.constantFrom(...CIDRS), allow: fc.integer({ min: 0, max: 9 }).map((n) => n < 3), ttl: fc.option(fc.integer({ min: 1, max: 40 }).map((s) => s * 1000), { nil: null }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("delete" as const), list: fc.constantFrom("a", "b"), cidr: fc.constantFrom(...CIDRS) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("advance" as const), ms: fc.integer({ min: 100, max: 15_000 }) }) },
  { weight: 1, arbitrary: fc.constant({ t: "restart" as const }) },
  { weight: 1, arbitrary: fc.constant({ t: "lose" as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("flush" as const), kind: fc.constantFrom("ban" as const, "net" as const, "allow" as const, "local" as const), family: fc.constantFrom("ip" as const, "ip6" as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("local" as const), address: fc.constantFrom(...LOCALS), seconds: fc.integer({ min: 1, max: 30 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("lift" as const), address: fc.constantFrom(...LOCALS) }) },
);

/** A fleet of one host: the bucket (decisions by key), the kernel (memory backend), the agent's BanSync. */
class Host {
  now = START;
  bucket = new Map<string, BanDecision>();
  local = new Map<string, number>();
  saved: string | undefined;
  backend = new MemoryBackend({ now: () => this.now });
  bans!: BanSync;

  async start(): Promise<void> {
    this.bans?.close();
    this.bans = new BanSync(this.backend, log, { now: () => this.now, epochMs: EPOCH });
    this.bans.saveLocal = (j) => (this.saved = j);
    this.bans.restoreLocal(this.saved);
    await this.bans.ensureTable();
    for (const [key, d] of this.bucket) void this.bans.set(key, decisionEntry(d, {}));
    await this.bans.synced();
  }

  async run(o: Op): Promise<void> {
    if (o.t === "put") {
      const d: BanDecision = { schemaVersion: 1, list: o.list, type: o.allow ? "Allow" : "Deny", cidr: o.cidr, reason: "", scenario: "", origins: [], createdAt: new Date(this.now).toISOString(), expiresAt: o.ttl === null ? null : new Date(this.now + o.ttl).toISOString(), offences: 1, source: "cli" };
      this.bucket.set(banKey(o.list, o.cidr), d);
      await this.bans.set(banKey(o.list, o.cidr), decisionEntry(d, {}));
    } else if (o.t === "delete") {
      this.bucket.delete(banKey(o.list, o.cidr));
      await this.bans.set(banKey(o.list, o.cidr), undefined);
    } else if (o.t === "advance") {
      this.now += o.ms;
      await this.bans.replanDue();
    } else if (o.t === "restart") await this.start();
    else if (o.t === "lose") {
      this.backend.loseTable("bans");
      expect(await this.bans.checkDrift()).toBe(true);
    } else if (o.t === "flush") {
      // elements about to expire are not asked for (they may be gone by then)
      const had = [...this.backend.elements(o.kind, o.family).values()].some((at) => at > this.now + 2_000);
      this.backend.flushSet(o.kind, o.family);
      // the spot check asks for every element here (a fleet asks a few each time)
      const repaired = await this.bans.checkDrift(1_000);
      if (had) expect(repaired).toBe(true);
      // what was not asked for expires within these 2 s
      this.now += 2_000;
      await this.bans.replanDue();
    } else if (o.t === "local") {
      this.local.set(o.address, Math.max(this.local.get(o.address) ?? 0, this.now + o.seconds * 1000));
      await this.bans.setLocal("sshd", o.address, o.seconds);
    } else {
      this.local.delete(o.address);
      this.bans.liftLocal(o.address);
    }
    await this.bans.idle();
  }

  /** The kernel's sets against the decisions live now, and the report against the controller's computation. */
  check(): void {
    // the kernel holds a ban to the whole second after its expiry (the agent keeps expiries in seconds)
    const live = [...this.bucket.values()].filter((d) => !d.expiresAt || Math.ceil(Date.parse(d.expiresAt) / 1000) * 1000 > this.now);
    for (const family of ["ip", "ip6"] as Family[]) {
      const of = (d: BanDecision) => parseCidr(d.cidr);
      const mine = live.filter((d) => of(d).family === family);
      const singles = mine.filter((d) => d.type === "Deny" && of(d).prefix === (family === "ip" ? 32 : 128)).map((d) => d.cidr);
      expect([...this.backend.elements("ban", family).keys()].sort()).toEqual([...new Set(singles)].sort());
      for (const [kind, type] of [["net", "Deny"], ["allow", "Allow"]] as const) {
        const want = mine.filter((d) => d.type === type && (kind === "allow" || of(d).prefix < (family === "ip" ? 32 : 128))).map((d) => of(d));
        const have = [...this.backend.elements(kind, family).keys()].map((e) => parseCidr(e));
        // the set holds wanted networks only, and covers every wanted one (nested ones inside another)
        for (const h of have) expect(want.map((w) => w.text)).toContain(h.text);
        for (const w of want) expect(have.some((h) => cidrContains(h, w)), `${kind} ${w.text} enforced`).toBe(true);
      }
      const locals = [...this.local].filter(([a, at]) => at > this.now && (a.includes(":") ? "ip6" : "ip") === family).map(([a]) => a);
      expect([...this.backend.elements("local", family).keys()].sort()).toEqual(locals.sort());
    }
    const truth = this.bans.truth();
    expect(truth.epoch).toBe(banEpoch(this.now, EPOCH));
    expect(truth.loading).toBe(false);
    expect({ count: truth.count, digest: truth.digest }).toEqual(expectedBans(this.bucket, {}, truth.epoch));
    expect(truth.refusedTotal).toBe(0);
  }

  /** `bans list --host --elements`: the kernel as the agent lists it, against the decisions live now and its local bans, differs nowhere. */
  async checkElements(): Promise<void> {
    const listing = await this.backend.listBans();
    if (!listing) throw new Error("no bans table");
    const reply = ElementsReply.parse(elementsReply("h", new Date(this.now), listing, this.bans.held(), 5_000));
    const live = [...this.bucket.values()].filter((d) => !d.expiresAt || Date.parse(d.expiresAt) > this.now);
    const locals = [...this.local].filter(([, at]) => at > this.now).map(([a, at]) => ({ set: banSetName("local", a), element: a, expiresAt: at, from: "local:sshd" }));
    const expected = [...expectedFromDecisions(live), ...locals];
    const c = compareKernel(reply, expected, this.now);
    expect(c.rows.filter((r) => r.state === "MISSING" || r.state === "EXTRA" || r.state === "REFUSED")).toEqual([]);
    // and every element not about to expire is judged enforced (a listing that judged nothing would pass the line above)
    const enforced = new Set(c.rows.filter((r) => r.state === "in force" || r.state === "covered").map((r) => `${r.set} ${r.element}`));
    for (const e of expected) if (e.expiresAt > this.now + 2_000) expect(enforced, `${e.set} ${e.element}`).toContain(`${e.set} ${e.element}`);
  }
}

describe("per-host ban truth (in-memory backend)", () => {
  it("an enclosing network added after a nested one is enforced, and stays when the nested one goes", async () => {
    const h = new Host();
    await h.start();
    await h.run({ t: "put", list: "cli", cidr: "10.77.0.240/29", allow: false, ttl: null });
    await h.run({ t: "put", list: "cli", cidr: "10.77.0.224/27", allow: false, ttl: null });
    expect([...h.backend.elements("net", "ip").keys()]).toEqual(["10.77.0.224/27"]);
    await h.run({ t: "delete", list: "cli", cidr: "10.77.0.240/29" });
    expect([...h.backend.elements("net", "ip").keys()]).toEqual(["10.77.0.224/27"]);
    h.check();
  });

  it("a nested network comes back when the one around it expires first", async () => {
    const h = new Host();
    await h.start();
    await h.run({ t: "put", list: "cli", cidr: "10.77.0.240/29", allow: false, ttl: 60_000 });
    await h.run({ t: "put", list: "cli", cidr: "10.77.0.224/27", allow: false, ttl: 5_000 });
    expect([...h.backend.elements("net", "ip").keys()]).toEqual(["10.77.0.224/27"]);
    await h.run({ t: "advance", ms: 6_000 });
    expect([...h.backend.elements("net", "ip").keys()]).toEqual(["10.77.0.240/29"]);
    h.check();
  });

  it("a refused element is listed in the report until it goes away, and the rest go in", async () => {
    const h = new Host();
    await h.start();
    h.backend.refuseElement("10.77.0.230");
    await h.run({ t: "put", list: "cli", cidr: "10.77.0.230", allow: false, ttl: null });
    await h.run({ t: "put", list: "cli", cidr: "10.77.0.241", allow: false, ttl: null });
    expect(h.bans.truth().refused).toEqual([{ element: "10.77.0.230", error: expect.stringContaining("refused") }]);
    expect([...h.backend.elements("ban", "ip").keys()]).toEqual(["10.77.0.241"]);
    await h.run({ t: "delete", list: "cli", cidr: "10.77.0.230" });
    expect(h.bans.truth().refusedTotal).toBe(0);
    h.check();
  });

  it("keeps the host's own management allow entries through rebuilds, outside the digest it reports", async () => {
    const h = new Host();
    await h.start();
    await h.bans.protect("198.18.9.0/24");
    await h.run({ t: "put", list: "cli", cidr: "10.77.0.241", allow: false, ttl: null });
    expect([...h.backend.elements("allow", "ip").keys()]).toEqual(["198.18.9.0/24"]);
    await h.run({ t: "lose" });
    expect([...h.backend.elements("allow", "ip").keys()]).toEqual(["198.18.9.0/24"]);
    expect(h.bans.allowed("198.18.9.7")).toBe(true);
    expect(h.bans.truth().count).toBe(1);
    expect({ count: h.bans.truth().count, digest: h.bans.truth().digest }).toEqual(expectedBans(h.bucket, {}, h.bans.truth().epoch));
  });

  it("converges to the bucket after a restart that missed a delete", async () => {
    const h = new Host();
    await h.start();
    await h.run({ t: "put", list: "cli", cidr: "10.77.0.152", allow: false, ttl: null });
    // the agent is down (no BanSync follows) while the decision is deleted
    h.bucket.delete(banKey("cli", "10.77.0.152"));
    await h.start();
    expect(h.backend.elements("ban", "ip").has("10.77.0.152")).toBe(false);
    h.check();
  });

  it("for any sequence of adds, deletes, expiries, restarts, lost tables and emptied sets, the sets equal the decisions, the report agrees and so does the element listing", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), async (ops) => {
        const h = new Host();
        await h.start();
        for (const o of ops) {
          await h.run(o);
          h.check();
          await h.checkElements();
        }
        h.bans.close();
      }),
      { numRuns: 300 },
    );
  });
});
