import { cidrContains, escalatedSeconds, parseCidr, type Cidr, type JailIR } from "@fleetwall/api";

export interface JailBan {
  jail: string;
  address: string;
  failures: number;
  /** Ban length in seconds, escalated for repeat offenders of this host. */
  banSeconds: number;
}

/**
 * Counts failures per address in a sliding window of findTime and says when an address reaches
 * maxRetry. Pure apart from its own state; time comes in as an argument.
 */
export class JailCounter {
  #failures = new Map<string, number[]>();
  #offences = new Map<string, number>();
  readonly #ignore: Cidr[];

  constructor(readonly jail: JailIR) {
    this.#ignore = jail.ignore.map(parseCidr);
  }

  /** Records one failure of `address` at `nowMs`; returns a ban when this failure crosses maxRetry. */
  fail(address: string, nowMs: number): JailBan | undefined {
    const addr = parseCidr(address);
    if (this.#ignore.some((net) => cidrContains(net, addr))) return undefined;
    const since = nowMs - this.jail.findTimeSeconds * 1000;
    const times = (this.#failures.get(addr.text) ?? []).filter((t) => t > since);
    times.push(nowMs);
    if (times.length < this.jail.maxRetry) {
      this.#failures.set(addr.text, times);
      return undefined;
    }
    this.#failures.delete(addr.text);
    const offences = (this.#offences.get(addr.text) ?? 0) + 1;
    this.#offences.set(addr.text, offences);
    return { jail: this.jail.name, address: addr.text, failures: times.length, banSeconds: banSeconds(this.jail, offences) };
  }

  /** Forgets windows that have closed, so memory follows the active attackers only. */
  prune(nowMs: number): void {
    const since = nowMs - this.jail.findTimeSeconds * 1000;
    for (const [a, times] of this.#failures) if (!times.some((t) => t > since)) this.#failures.delete(a);
  }
}

/** banTime × factor^(offences-1), capped at the increment's maximum. */
export function banSeconds(jail: Pick<JailIR, "banTimeSeconds" | "increment">, offences: number): number {
  return escalatedSeconds(jail.banTimeSeconds, jail.increment, offences, jail.increment?.maxSeconds ?? jail.banTimeSeconds);
}
