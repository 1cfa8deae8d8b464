import { connect, type AddressInfo, type Server, type Socket } from "node:net";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { HTTP_LIMITS, newRegistry, serveObservability } from "./observe.js";
import { PROBE_LIMITS, evictionIndex, serveProbes } from "./probe-listener.js";

const open: Socket[] = [];
const servers: Server[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
});

const portOf = (s: Server) => (s.address() as AddressInfo).port;
const held = (s: Server) => new Promise<number>((r) => s.getConnections((_e, n) => r(n)));

/** A connection that sends nothing, from `from` (any of 127.0.0.0/8); `closed` resolves when the server closes it. */
function idle(port: number, from: string): Promise<{ socket: Socket; closed: Promise<void>; isClosed: () => boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: "127.0.0.1", localAddress: from });
    open.push(socket);
    let gone = false;
    const closed = new Promise<void>((done) => socket.once("close", () => ((gone = true), done())));
    socket.once("connect", () => resolve({ socket, closed, isClosed: () => gone }));
    socket.once("error", reject);
  });
}

/** GET `path` from 127.0.0.1 (as a probe would, with no keep-alive): the status, or the error's text. */
async function get(port: number, path: string): Promise<number | string> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2_000), keepalive: false });
    await res.text();
    return res.status;
  } catch (error) {
    return String((error as Error).cause ?? error);
  }
}

/** An HTTP GET written on an already open socket: resolves to the status line. */
function getOn(socket: Socket, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    socket.on("data", (d) => (text += String(d)));
    socket.once("close", () => resolve(text.split("\r\n")[0] ?? ""));
    socket.once("error", reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: probe\r\n\r\n`);
  });
}

async function until<T>(f: () => T | Promise<T>, ok: (v: T) => boolean, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `n` idle connections spread over `sources` addresses 127.0.<net>.1…, made a few at a time. */
async function flood(port: number, n: number, net: number, sources: number) {
  const made = [];
  for (let i = 0; i < n; i += 32) made.push(...(await Promise.all(Array.from({ length: Math.min(32, n - i) }, (_, j) => idle(port, `127.0.${net}.${1 + ((i + j) % sources)}`)))));
  return made;
}

describe("evictionIndex", () => {
  it.each([
    [["a", "b", "b", "c"], 1],
    [["a", "b", "c"], 0],
    [["k", "x", "x", "y", "y", "y"], 3],
    [["x", "k", "x"], 0],
  ])("of %j is %d: the oldest of the source holding the most", (sources, index) => {
    expect(evictionIndex(sources)).toBe(index);
  });

  it("never picks a source holding fewer than another, and always the first of its source", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom<string>("k", "a", "b", "c"), { minLength: 1, maxLength: 40 }), (sources) => {
        const i = evictionIndex(sources);
        const count = (s: string) => sources.filter((x) => x === s).length;
        const picked = sources[i] as string;
        expect(Math.max(...sources.map(count))).toBe(count(picked));
        expect(sources.indexOf(picked)).toBe(i);
      }),
    );
  });
});

describe("the probe listener", () => {
  it("answers /healthz and /readyz while many sources hold every connection of --listen", async () => {
    let ready = true;
    const main = await serveObservability("127.0.0.1:0", newRegistry(), () => ready);
    const probes = await serveProbes("127.0.0.1:0", () => ready);
    servers.push(main, probes);
    // 32 sources, each within the per-source cap, hold the whole of --listen
    const sources = 32;
    expect(HTTP_LIMITS.maxConnections / sources).toBeLessThanOrEqual(HTTP_LIMITS.perSource);
    const held1 = await flood(portOf(main), HTTP_LIMITS.maxConnections, 3, sources);
    // (the server accepts what the kernel has queued as its loop gets to it)
    expect(await until(() => held(main), (n) => n === HTTP_LIMITS.maxConnections, 10_000)).toBe(HTTP_LIMITS.maxConnections);
    expect(held1.filter((f) => f.isClosed())).toEqual([]);
    // --listen is starved: a probe there is closed unanswered (until the flood's connections time out)
    expect(await get(portOf(main), "/healthz")).not.toBe(200);
    // the probe listener answers at once, and tells readiness as it changes
    expect(await get(portOf(probes), "/healthz")).toBe(200);
    expect(await get(portOf(probes), "/readyz")).toBe(200);
    ready = false;
    expect(await get(portOf(probes), "/readyz")).toBe(503);
    // the flood still holds --listen all along
    expect(await held(main)).toBe(HTTP_LIMITS.maxConnections);
  }, 60_000);

  it("serves nothing but the probes, and closes each connection after its answer", async () => {
    const probes = await serveProbes("127.0.0.1:0", () => true);
    servers.push(probes);
    expect(await get(portOf(probes), "/metrics")).toBe(404);
    expect(await get(portOf(probes), "/")).toBe(404);
    const c = await idle(portOf(probes), "127.0.0.1");
    expect(await getOn(c.socket, "/healthz")).toBe("HTTP/1.1 200 OK");
    await c.closed;
  });

  it("takes a new connection when a flood from many sources holds its cap: the probe is answered at once", async () => {
    const probes = await serveProbes("127.0.0.1:0", () => true);
    servers.push(probes);
    const f = await flood(portOf(probes), 3 * PROBE_LIMITS.maxConnections, 4, 40);
    // the oldest made room for the newest: the listener holds its cap, no more
    expect(await held(probes)).toBeLessThanOrEqual(PROBE_LIMITS.maxConnections);
    const closed = () => f.filter((x) => x.isClosed()).length;
    expect(await until(closed, (n) => n >= 2 * PROBE_LIMITS.maxConnections, 5_000)).toBe(2 * PROBE_LIMITS.maxConnections);
    // a refused connection would fail at once; the probe is answered though the flood is still held
    expect(await get(portOf(probes), "/healthz")).toBe(200);
  }, 60_000);

  it("keeps a lone source's connection while one source floods the listener", async () => {
    const probes = await serveProbes("127.0.0.1:0", () => true);
    servers.push(probes);
    const kubelet = await idle(portOf(probes), "127.0.0.1");
    await flood(portOf(probes), 3 * PROBE_LIMITS.maxConnections, 5, 1);
    expect(kubelet.isClosed()).toBe(false);
    expect(await getOn(kubelet.socket, "/healthz")).toBe("HTTP/1.1 200 OK");
  }, 60_000);
});
