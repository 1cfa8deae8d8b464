import type { NatsConnection } from "@nats-io/transport-node";
import { BAN_ADD_REQUEST, BAN_DELETE_REQUEST, BAN_IMPORT_REQUEST, BanAddRequest, BanDeleteRequest, BanImportRequest, type BanReply, type BusMessageKind } from "@fleetwall/api";
import { safeJson, type SafeParser } from "./bus-codec.js";

const enc = new TextEncoder();

export interface BanHandlers {
  add: (r: ReturnType<typeof BanAddRequest.parse>) => Promise<BanReply>;
  del: (cidr: string) => Promise<BanReply>;
  imp: (r: ReturnType<typeof BanImportRequest.parse>) => Promise<BanReply>;
}

/**
 * The answer to one request: the handler's reply for a body that matches `schema`, a refusal naming
 * what was malformed otherwise, and a failed reply (never no reply) when the handler throws.
 */
export async function answer<T>(data: Uint8Array, schema: SafeParser<T>, malformed: string, handle: (r: T) => Promise<BanReply>, kind: BusMessageKind = "request"): Promise<BanReply> {
  const r = safeJson(data, schema, kind);
  if (r === undefined) return { ok: false, error: malformed, keys: [] };
  try {
    return await handle(r);
  } catch (e) {
    return { ok: false, error: String(e), keys: [] };
  }
}

/** The CLI's `bans add`, `bans delete` and `bans import`, served in the controllers' queue group. */
export function serveBans(nc: NatsConnection, { add, del, imp }: BanHandlers): void {
  const serve = <T>(subject: string, schema: SafeParser<T>, malformed: string, handle: (r: T) => Promise<BanReply>, kind: BusMessageKind = "request") =>
    nc.subscribe(subject, {
      queue: "fleetwall-controller",
      callback: (err, msg) => {
        if (!err) void answer(msg.data, schema, malformed, handle, kind).then((reply) => msg.respond(enc.encode(JSON.stringify(reply))));
      },
    });
  serve(BAN_ADD_REQUEST, BanAddRequest, "malformed ban request", add);
  serve(BAN_IMPORT_REQUEST, BanImportRequest, "malformed import request", imp, "import");
  serve(BAN_DELETE_REQUEST, BanDeleteRequest, "malformed ban request", (r) => del(r.cidr));
}
