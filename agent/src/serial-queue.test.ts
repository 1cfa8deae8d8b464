import { describe, expect, it } from "vitest";
import { SerialQueue } from "./serial-queue.js";

describe("SerialQueue", () => {
  it("runs one operation at a time, in order, past failures", async () => {
    const errors: unknown[] = [];
    const q = new SerialQueue((e) => errors.push(e));
    const order: string[] = [];
    let running = 0;
    const op = (name: string, fail = false) => async () => {
      running += 1;
      expect(running).toBe(1);
      await new Promise((r) => setImmediate(r));
      order.push(name);
      running -= 1;
      if (fail) throw new Error(name);
      return name;
    };
    const a = q.run(op("a"));
    const b = q.runLogged(op("b", true));
    const c = q.run(op("c", true));
    const d = q.run(op("d"));
    await expect(a).resolves.toBe("a");
    await expect(b).resolves.toBeUndefined();
    await expect(c).rejects.toThrow("c");
    await expect(d).resolves.toBe("d");
    expect(order).toEqual(["a", "b", "c", "d"]);
    expect(errors.map((e) => (e as Error).message)).toEqual(["b"]);
  });

  it("queues a periodic operation only when none of its kind is queued or running: slow checks do not pile up", async () => {
    const q = new SerialQueue(() => undefined);
    let release: () => void = () => undefined;
    const slow = new Promise<void>((r) => (release = r));
    const runs: string[] = [];
    const first = q.runPeriodic("drift", async () => (runs.push("drift"), slow));
    for (let i = 0; i < 10; i += 1) void q.runPeriodic("drift", async () => void runs.push("drift"));
    const heartbeat = q.runPeriodic("heartbeat", async () => void runs.push("heartbeat"));
    const update = q.run(async () => void runs.push("update"));
    release();
    await Promise.all([first, heartbeat, update]);
    expect(runs).toEqual(["drift", "heartbeat", "update"]);
    await q.runPeriodic("drift", async () => void runs.push("drift"));
    expect(runs).toEqual(["drift", "heartbeat", "update", "drift"]);
  });
});
