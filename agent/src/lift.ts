import { LiftLocalBan, parseBusJson, SignedEnvelope, verifyEnvelope } from "@fleetwall/api";

/** How far an order's time may be from the agent's clock. */
const MAX_SKEW_MS = 60_000;
/** Orders remembered to refuse a replay within the window (a bound, not a guess: beyond it the oldest go). */
const REMEMBERED = 1_000;

export type VerifiedLift = { ok: true; lift: LiftLocalBan } | { ok: false; reason: string };

/**
 * Checks an order to lift a local ban: signed by the trusted controller key, for this host, recent,
 * and not seen before. The bus is not trusted to lift bans any more than to make rules. Stateful
 * only for replays.
 */
export class LiftVerifier {
  #seen = new Set<string>();

  constructor(
    private readonly hostId: string,
    private readonly now: () => number = Date.now,
  ) {}

  verify(data: string, trustedKey: string | undefined): VerifiedLift {
    if (!trustedKey) return { ok: false, reason: "no trusted controller key yet" };
    let envelope: SignedEnvelope;
    let lift: LiftLocalBan;
    // from the bus, unverified: bounded in size and depth before it is parsed
    const json = parseBusJson(data, "request");
    if (!json.ok) return { ok: false, reason: `malformed lift order (${json.reason})` };
    try {
      envelope = SignedEnvelope.parse(json.value);
      if (!verifyEnvelope(envelope, trustedKey)) return { ok: false, reason: "bad signature" };
      lift = LiftLocalBan.parse(JSON.parse(envelope.payload));
    } catch {
      return { ok: false, reason: "malformed lift order" };
    }
    if (lift.hostId !== this.hostId) return { ok: false, reason: `for host ${lift.hostId}` };
    if (Math.abs(this.now() - Date.parse(lift.at)) > MAX_SKEW_MS) return { ok: false, reason: "too old or from the future" };
    if (this.#seen.has(envelope.signature)) return { ok: false, reason: "replayed" };
    this.#seen.add(envelope.signature);
    if (this.#seen.size > REMEMBERED) this.#seen.delete(this.#seen.values().next().value as string);
    return { ok: true, lift };
  }
}
