import { SCHEMA_VERSION, parseCidr, signPayload, type HostReport, type SigningKey } from "@fleetwall/api";

export interface LiftResult {
  lifted: { host: string; jail: string }[];
  unconfirmed: string[];
}

/**
 * Lifts the local ban (a jail's, share: Local) of one address on every host that reports one: a
 * signed order to each, then waits until each host's report no longer lists it.
 */
export class LocalBanLifter {
  constructor(
    private readonly send: (hostId: string, text: string) => void,
    private readonly key: SigningKey,
    private readonly reports: () => ReadonlyMap<string, HostReport>,
    private readonly now: () => number = Date.now,
  ) {}

  /** The hosts whose last report lists a local ban of exactly this address, with the jail. */
  holders(cidrText: string): { host: string; jail: string }[] {
    let text: string;
    try {
      text = parseCidr(cidrText).text;
    } catch {
      return [];
    }
    const out: { host: string; jail: string }[] = [];
    for (const [host, r] of this.reports()) {
      const ban = r.bans?.local.find((b) => b.address === text && b.expiresAt > this.now());
      if (ban) out.push({ host, jail: ban.jail });
    }
    return out;
  }

  async lift(cidrText: string, timeoutMs = 5_000): Promise<LiftResult> {
    const holders = this.holders(cidrText);
    if (holders.length === 0) return { lifted: [], unconfirmed: [] };
    const address = parseCidr(cidrText).text;
    for (const { host } of holders) {
      const payload = JSON.stringify({ schemaVersion: SCHEMA_VERSION, hostId: host, address, at: new Date(this.now()).toISOString() });
      this.send(host, JSON.stringify(signPayload(this.key, payload)));
    }
    const pending = new Set(holders.map((h) => h.host));
    for (const deadline = Date.now() + timeoutMs; pending.size > 0 && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 100));
      const still = new Set(this.holders(address).map((h) => h.host));
      for (const h of [...pending]) if (!still.has(h)) pending.delete(h);
    }
    return { lifted: holders.filter((h) => !pending.has(h.host)), unconfirmed: [...pending] };
  }
}
