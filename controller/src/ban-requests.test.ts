import { connect } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { BAN_ADD_REQUEST, BAN_DELETE_REQUEST, BAN_IMPORT_REQUEST, BanAddRequest, type BanReply } from "@fleetwall/api";
import { loopbackNats } from "../../test/harness/loopback-nats.js";
import { answer, serveBans } from "./ban-requests.js";

const enc = new TextEncoder();
const bytes = (v: unknown) => enc.encode(typeof v === "string" ? v : JSON.stringify(v));
const ok = (keys: string[]): BanReply => ({ ok: true, keys });

describe("ban request answers", () => {
  it("hands a request that matches the schema to the handler, with the schema's defaults", async () => {
    const seen: unknown[] = [];
    const reply = await answer(bytes({ cidr: "203.0.113.9", durationSeconds: 60 }), BanAddRequest, "malformed ban request", async (r) => (seen.push(r), ok(["k"])));
    expect(reply).toEqual(ok(["k"]));
    expect(seen).toEqual([{ cidr: "203.0.113.9", durationSeconds: 60, reason: "" }]);
  });

  it("refuses a body that is not JSON or does not match, without calling the handler", async () => {
    const handle = () => Promise.reject(new Error("must not be called"));
    for (const body of ["{", "null", JSON.stringify({ cidr: "203.0.113.9", durationSeconds: 0 }), JSON.stringify({ durationSeconds: 60 })]) {
      expect(await answer(bytes(body), BanAddRequest, "malformed ban request", handle), body).toEqual({ ok: false, error: "malformed ban request", keys: [] });
    }
  });

  it("answers a handler's failure, thrown or rejected, as a failed reply naming it", async () => {
    const body = bytes({ cidr: "203.0.113.9", durationSeconds: null });
    expect(await answer(body, BanAddRequest, "m", () => Promise.reject(new Error("bucket full")))).toEqual({ ok: false, error: "Error: bucket full", keys: [] });
    expect(await answer(body, BanAddRequest, "m", () => { throw new Error("bug"); })).toEqual({ ok: false, error: "Error: bug", keys: [] });
  });
});

describe("serveBans", () => {
  const nats = loopbackNats("ban-requests");

  it("answers each subject with its own handler", async () => {
    const nc = await connect({ servers: nats.server.url });
    try {
      serveBans(nc, {
        add: async (r) => ok([`add ${r.cidr}`]),
        del: async (cidr) => ok([`del ${cidr}`]),
        imp: async (r) => ok([`import ${r.list} ${r.entries.length}`]),
      });
      const ask = async (subject: string, body: unknown) => (await nc.request(subject, bytes(body), { timeout: 10_000 })).json<BanReply>();
      expect(await ask(BAN_ADD_REQUEST, { cidr: "203.0.113.9", durationSeconds: null })).toEqual(ok(["add 203.0.113.9"]));
      expect(await ask(BAN_DELETE_REQUEST, { cidr: "203.0.113.9" })).toEqual(ok(["del 203.0.113.9"]));
      expect(await ask(BAN_IMPORT_REQUEST, { list: "feed", durationSeconds: null, entries: ["203.0.113.1", "203.0.113.2"] })).toEqual(ok(["import feed 2"]));
      expect(await ask(BAN_IMPORT_REQUEST, { list: "Bad List", durationSeconds: null, entries: [] })).toEqual({ ok: false, error: "malformed import request", keys: [] });
      expect(await ask(BAN_DELETE_REQUEST, "not json")).toEqual({ ok: false, error: "malformed ban request", keys: [] });
    } finally {
      await nc.close();
    }
  });
});
