import { BanDigest, expirySeconds, heldAt, matchesSelector, type BanDecision, type BansState, type HostReport, type Labels } from "@fleetwall/api";

export interface ExpectedBans {
  count: number;
  digest: string;
}

/**
 * What a host with these labels should hold of the decisions at epoch start `epoch` (ms), as the
 * agent counts it (api/ban-digest.ts): each decision that applies to the host and has not expired by
 * then. Pure.
 */
export function expectedBans(decisions: Iterable<readonly [string, BanDecision]>, labels: Labels, epoch: number): ExpectedBans {
  const digest = new BanDigest();
  const parsed = new Map<string, number>();
  for (const [key, d] of decisions) {
    if (!matchesSelector(d.hostSelector, labels)) continue;
    let at = Infinity;
    if (d.expiresAt) {
      at = parsed.get(d.expiresAt) ?? Date.parse(d.expiresAt);
      parsed.set(d.expiresAt, at);
      if (parsed.size > 1024) parsed.clear();
    }
    const expSec = expirySeconds(at);
    if (heldAt(expSec, epoch)) digest.toggle(key, d.type === "Allow" ? "allow" : "deny", expSec, 1);
  }
  return { count: digest.count, digest: digest.value };
}

/** Whether a host's report of its bans matches its decisions (`expected` for the report's epoch). Pure. */
export function bansState(report: HostReport | undefined, expected: ExpectedBans | undefined): BansState {
  const bans = report?.bans;
  // before its first full read of the bucket an agent's kernel still holds what it had: not known yet
  if (!bans || !expected || bans.loading) return "Unknown";
  if (bans.refusedTotal > 0) return "Refused";
  return bans.digest === expected.digest && bans.count === expected.count ? "InSync" : "Differ";
}

/** Why a host's bans are Unknown (undefined when they are known). Pure. */
export function bansUnknownWhy(stale: boolean, report: HostReport | undefined, expected: ExpectedBans | undefined): "Stale" | "NotReported" | "Loading" | undefined {
  if (stale) return "Stale";
  if (!report?.bans || !expected) return "NotReported";
  return report.bans.loading ? "Loading" : undefined;
}

/** Expected bans per host, computed once per distinct labels and epoch (hosts alike share one pass over the decisions). */
export function expectedByHost(hosts: Iterable<{ id: string; labels: Labels; epoch: number | undefined }>, decisions: ReadonlyMap<string, BanDecision>): Map<string, ExpectedBans> {
  const memo = new Map<string, ExpectedBans>();
  const out = new Map<string, ExpectedBans>();
  for (const h of hosts) {
    if (h.epoch === undefined) continue;
    const id = `${h.epoch} ${JSON.stringify(Object.entries(h.labels).sort())}`;
    let e = memo.get(id);
    if (!e) {
      e = expectedBans(decisions, h.labels, h.epoch);
      memo.set(id, e);
    }
    out.set(h.id, e);
  }
  return out;
}
