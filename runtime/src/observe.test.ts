import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { Server, AddressInfo } from "node:net";
import { HTTP_LIMITS, newRegistry, serveObservability } from "./observe.js";

const open: Socket[] = [];
let server: Server | undefined;
afterEach(() => {
  for (const s of open.splice(0)) s.destroy();
  server?.close();
});

/** A connection that sends nothing; resolves to whether the server closed it, once it does. */
function idle(port: number, from = "127.0.0.1"): Promise<{ socket: Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1", localAddress: from });
    open.push(socket);
    const closed = new Promise<void>((done) => socket.once("close", () => done()));
    socket.once("connect", () => resolve({ socket, closed }));
    socket.once("error", reject);
  });
}

async function healthz(port: number): Promise<number | string> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_000) });
    return res.status;
  } catch (error) {
    return String(error);
  }
}

async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("serveObservability under a connection flood", () => {
  it("holds at most maxConnections, closes idle ones after the timeout, then answers a new client", async () => {
    server = await serveObservability("127.0.0.1:0", newRegistry(), () => true);
    const port = (server.address() as AddressInfo).port;
    // from many source addresses (127.0.1.x), so that the total cap is what holds them back
    const flood = await Promise.all(Array.from({ length: HTTP_LIMITS.maxConnections + 44 }, (_, i) => idle(port, `127.0.1.${1 + (i % 20)}`)));
    // past the cap, connections are closed as they come: the server holds no more than the cap
    const count = () => new Promise<number>((r) => server!.getConnections((_e, n) => r(n)));
    expect(await until(count, (n) => n <= HTTP_LIMITS.maxConnections, 5_000)).toBeLessThanOrEqual(HTTP_LIMITS.maxConnections);
    // the flood's connections send nothing: each is closed by the server after the idle timeout
    await Promise.all(flood.map((f) => f.closed));
    expect(await count()).toBe(0);
    expect(await until(() => healthz(port), (s) => s === 200, 10_000)).toBe(200);
  }, 60_000);

  it("lets one source hold at most perSource connections: another client is answered at once", async () => {
    server = await serveObservability("127.0.0.1:0", newRegistry(), () => true);
    const port = (server.address() as AddressInfo).port;
    const flood = await Promise.all(Array.from({ length: HTTP_LIMITS.perSource + 10 }, () => idle(port, "127.0.2.1")));
    const count = () => new Promise<number>((r) => server!.getConnections((_e, n) => r(n)));
    // the ones past the cap are closed at once (well before the idle timeout), the others held
    let closed = 0;
    for (const f of flood) void f.closed.then(() => (closed += 1));
    expect(await until(async () => closed, (n) => n >= 10, 5_000)).toBe(10);
    expect(await count()).toBe(HTTP_LIMITS.perSource);
    expect(await healthz(port)).toBe(200);
  }, 60_000);
});
