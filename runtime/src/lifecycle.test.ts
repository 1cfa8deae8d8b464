import { getEventListeners } from "node:events";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { AbortedError, backoffMs, delay, retry, untilAborted } from "./retry.js";
import { oneLine } from "./process-main.js";
import { RunnableFailedError, ShutdownTimeoutError, Supervisor } from "./supervisor.js";

const log = pino({ level: "silent" });
const never = () => new Promise<never>(() => undefined);
/** A runnable that runs until aborted, and says when it stopped. */
const untilStopped = (stops: string[], name: string) => (signal: AbortSignal) =>
  new Promise<void>((resolve) => signal.addEventListener("abort", () => (stops.push(name), resolve()), { once: true }));

describe("retry", () => {
  it("retries until fn succeeds, telling onRetry each failure and the growing wait", async () => {
    const waits: number[] = [];
    let calls = 0;
    const v = await retry(async () => (++calls < 4 ? Promise.reject(new Error(`no ${calls}`)) : "yes"), {
      signal: new AbortController().signal,
      initialMs: 1,
      maxMs: 3,
      onRetry: (_e, ms) => waits.push(ms),
    });
    expect(v).toBe("yes");
    expect(waits).toEqual([1, 2, 3]);
  });

  it("stops waiting as soon as the signal aborts, and rejects with its reason", async () => {
    const ac = new AbortController();
    const p = retry(() => Promise.reject(new Error("down")), { signal: ac.signal, initialMs: 3_600_000 });
    setImmediate(() => ac.abort(new AbortedError("SIGTERM")));
    await expect(p).rejects.toThrow("SIGTERM");
  });

  it("does not wait for an attempt in progress once aborted; a late value goes to `late`", async () => {
    const ac = new AbortController();
    let resolveAttempt: (v: string) => void = () => undefined;
    const late: string[] = [];
    const p = retry(() => new Promise<string>((r) => (resolveAttempt = r)), { signal: ac.signal, late: (v) => late.push(v) });
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(Error);
    resolveAttempt("connection");
    await new Promise((r) => setImmediate(r));
    expect(late).toEqual(["connection"]);
  });

  it("throws at once what retryIf refuses", async () => {
    let calls = 0;
    const p = retry(async () => {
      calls++;
      throw new TypeError("bad input");
    }, { signal: new AbortController().signal, retryIf: (e) => !(e instanceof TypeError) });
    await expect(p).rejects.toThrow("bad input");
    expect(calls).toBe(1);
  });

  it.each([
    [1, 200],
    [2, 400],
    [5, 3200],
    [6, 5000],
    [50, 5000],
  ])("backoff: attempt %i waits %i ms by default", (attempt, ms) => {
    expect(backoffMs(attempt, {})).toBe(ms);
  });

  it("jitter stays within its fraction", () => {
    expect(backoffMs(1, { initialMs: 1000, jitter: 0.2 }, () => 0)).toBe(800);
    expect(backoffMs(1, { initialMs: 1000, jitter: 0.2 }, () => 1)).toBe(1200);
  });

  it("delay ends early on abort and leaves no timer behind", async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timers();
    const ac = new AbortController();
    const p = delay(3_600_000, ac.signal);
    expect(timers()).toBe(before + 1);
    ac.abort();
    expect(await p).toBe(false);
    expect(timers()).toBe(before);
  });

  it("untilAborted rejects on abort", async () => {
    const ac = new AbortController();
    const p = untilAborted(never(), ac.signal);
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(Error);
  });
});

describe("abort listeners", () => {
  it("a long retry loop does not accumulate listeners on its signal", async () => {
    const ac = new AbortController();
    const seen: number[] = [];
    let calls = 0;
    await retry(async () => {
      seen.push(getEventListeners(ac.signal, "abort").length);
      if (++calls < 200) throw new Error("not yet");
    }, { signal: ac.signal, initialMs: 0, maxMs: 0 });
    expect(calls).toBe(200);
    expect(Math.max(...seen)).toBeLessThanOrEqual(1);
    expect(getEventListeners(ac.signal, "abort")).toHaveLength(0);
  });

  it("many runnables add one listener to the process's signal, not one each (Node warns past ten)", async () => {
    const parent = new AbortController();
    const s = new Supervisor({ log, graceMs: 1000 });
    let counted = -1;
    let started: () => void = () => undefined;
    const running = new Promise<void>((resolve) => (started = resolve));
    const done = s.supervise(parent.signal, async (sup) => {
      for (let i = 0; i < 30; i++) sup.run(`r${i}`, async (signal) => void (await delay(3_600_000, signal)));
      await new Promise((r) => setImmediate(r));
      counted = getEventListeners(sup.signal, "abort").length;
      started();
    });
    await running;
    parent.abort();
    await done;
    expect(counted).toBeGreaterThanOrEqual(1);
    expect(counted).toBeLessThanOrEqual(2);
  });
});

describe("Supervisor", () => {
  it("a clean stop stops every runnable, then runs the cleanups in reverse order", async () => {
    const events: string[] = [];
    const s = new Supervisor({ log, graceMs: 1000 });
    const parent = new AbortController();
    const done = s.supervise(parent.signal, async (sv) => {
      await sv.resource("a", async () => "A", () => void events.push("close a"));
      sv.defer("b", () => void events.push("close b"));
      sv.run("one", untilStopped(events, "one"));
      sv.run("two", untilStopped(events, "two"));
    });
    await new Promise((r) => setImmediate(r));
    parent.abort();
    await done;
    expect(events).toEqual(["one", "two", "close b", "close a"]);
  });

  it("the first failure aborts the others and is what supervise rejects with", async () => {
    const events: string[] = [];
    const s = new Supervisor({ log, graceMs: 1000 });
    const done = s.supervise(new AbortController().signal, async (sv) => {
      sv.defer("conn", () => void events.push("close conn"));
      sv.run("watch", untilStopped(events, "watch"));
      sv.run("broken", async () => {
        await new Promise((r) => setImmediate(r));
        throw new Error("bucket gone");
      });
      sv.run("late", async (signal) => {
        await new Promise((r) => signal.addEventListener("abort", r));
        throw new Error("failing while stopping");
      });
    });
    const error = await done.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RunnableFailedError);
    expect((error as Error).message).toBe("broken: bucket gone");
    expect(events).toEqual(["watch", "close conn"]);
  });

  it("a failing start (a resource that cannot be made) stops with its name and cleans up what was made", async () => {
    const events: string[] = [];
    const s = new Supervisor({ log, graceMs: 1000 });
    const done = s.supervise(new AbortController().signal, async (sv) => {
      await sv.resource("bus", async () => "bus", () => void events.push("close bus"));
      await sv.resource("policy directory", () => Promise.reject(new Error("ENOENT: /typo")), () => void events.push("never"));
      sv.run("unreached", untilStopped(events, "unreached"));
    });
    await expect(done).rejects.toThrow("policy directory: ENOENT: /typo");
    expect(events).toEqual(["close bus"]);
  });

  it("a stop during a start that waits for ever (an unreachable server) does not wait for it", async () => {
    const s = new Supervisor({ log, graceMs: 1000 });
    const parent = new AbortController();
    let closedLate = false;
    const done = s.supervise(parent.signal, async (sv) => {
      await sv.resource("nats", () => never(), () => void (closedLate = true));
    });
    await new Promise((r) => setImmediate(r));
    parent.abort();
    await done;
    expect(closedLate).toBe(false);
  });

  it("a runnable that ignores the stop is named in a ShutdownTimeoutError after the grace period", async () => {
    const s = new Supervisor({ log, graceMs: 50 });
    const parent = new AbortController();
    const done = s.supervise(parent.signal, async (sv) => {
      sv.run("stubborn", () => never());
      sv.run("polite", untilStopped([], "polite"));
    });
    await new Promise((r) => setImmediate(r));
    parent.abort();
    const error = await done.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ShutdownTimeoutError);
    expect((error as ShutdownTimeoutError).pending).toEqual(["stubborn"]);
  });

  it("waits for a start step that cannot be abandoned (an nft transaction), and starts nothing after the stop", async () => {
    const events: string[] = [];
    const s = new Supervisor({ log, graceMs: 1000 });
    const parent = new AbortController();
    const done = s.supervise(parent.signal, async (sv) => {
      sv.defer("table", () => void events.push("cleanup"));
      await new Promise((r) => setTimeout(r, 30)).then(() => events.push("step done"));
      sv.run("late", async () => void events.push("late ran"));
    });
    await new Promise((r) => setImmediate(r));
    parent.abort();
    await done;
    expect(events).toEqual(["step done", "cleanup"]);
  });

  it("ends by itself, cleanly, when every runnable has finished", async () => {
    const events: string[] = [];
    const s = new Supervisor({ log, graceMs: 1000 });
    await s.supervise(new AbortController().signal, async (sv) => {
      sv.defer("x", () => void events.push("close x"));
      sv.run("once", async () => void events.push("ran"));
    });
    expect(events).toEqual(["ran", "close x"]);
  });
});

describe("oneLine", () => {
  it.each([
    [new Error("boom"), "boom"],
    [new RunnableFailedError("nats", new Error("connection refused")), "nats: connection refused"],
    [new Error("outer", { cause: new Error("inner\nsecond line") }), "outer: inner second line"],
    ["a string", "a string"],
  ])("%s → %s", (error, line) => {
    expect(oneLine(error)).toBe(line);
  });
});
