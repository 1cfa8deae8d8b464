import type { JetStreamManager, StreamConfig } from "@nats-io/jetstream";
import type { Logger } from "pino";

/** A setting of an existing stream that differs from what this controller wants. */
export interface SettingDrift {
  stream: string;
  setting: string;
  have: unknown;
  want: unknown;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** The settings in `want` that `have` differs in, in `want`'s order. Pure. */
export function settingDrift(stream: string, have: Partial<StreamConfig>, want: Partial<StreamConfig>): SettingDrift[] {
  const out: SettingDrift[] = [];
  for (const [setting, value] of Object.entries(want)) {
    const current = (have as Record<string, unknown>)[setting];
    if (!same(current, value)) out.push({ stream, setting, have: current ?? null, want: value });
  }
  return out;
}

/** What an operator does about a setting the server would not change on an existing stream. Pure. */
export function fixFor(d: Pick<SettingDrift, "stream" | "setting">): string {
  const what = d.stream.startsWith("KV_") ? `bucket ${d.stream.slice(3)}` : `stream ${d.stream}`;
  const loses = d.stream === "KV_fleetwall-bans" ? " (fleet bans are lost: BanLists are published again, jail bans are not)" : d.stream === "KV_fleetwall-hosts" ? " (agents register again on their next start)" : "";
  return `nats-server sets ${d.setting} only when a stream is made: stop the controller, remove the ${what} (\`nats stream rm ${d.stream}\`)${loses}, and start the controller, which makes it with the current settings; or run a nats-server that can change it`;
}

/**
 * Brings existing streams to the settings this controller wants, and remembers what the server
 * would not change (nats-server 2.9 sets max_consumers, and republish, only when a stream is made,
 * so an installation upgraded from an older fleetwall keeps the old values). Each such setting is
 * logged once, with how to fix it, and listed by `unapplied` (a metric).
 */
export class StreamSettings {
  readonly #unapplied = new Map<string, SettingDrift & { error: string }>();

  /** The settings not applied, `<stream> <setting>` → 1 (for a labelled gauge). */
  get unapplied(): Record<string, number> {
    return Object.fromEntries([...this.#unapplied.keys()].map((k) => [k, 1]));
  }

  /** What is left unapplied for one stream. */
  unappliedOf(stream: string): SettingDrift[] {
    return [...this.#unapplied.values()].filter((d) => d.stream === stream);
  }

  /**
   * Updates `stream` to `want` in one request when the server takes it; otherwise setting by setting,
   * so each one it refuses is known by name. Never throws for a refusal.
   */
  async reconcile(jsm: JetStreamManager, stream: string, want: Partial<StreamConfig>, log: Logger): Promise<void> {
    const have = (await jsm.streams.info(stream)).config;
    const drift = settingDrift(stream, have, want);
    for (const k of this.#unapplied.keys()) if (k.startsWith(`${stream} `) && !drift.some((d) => `${stream} ${d.setting}` === k)) this.#unapplied.delete(k);
    if (drift.length === 0) return;
    const all = await jsm.streams.update(stream, { ...have, ...want }).then(() => true, () => false);
    if (all) {
      log.info({ stream, settings: drift }, "stream settings updated");
      return;
    }
    let current = have;
    for (const d of drift) {
      try {
        current = (await jsm.streams.update(stream, { ...current, [d.setting]: d.want })).config;
        log.info({ stream, setting: d.setting, from: d.have, to: d.want }, "stream setting updated");
      } catch (error) {
        this.#refused(d, error, log);
      }
    }
  }

  #refused(d: SettingDrift, error: unknown, log: Logger): void {
    const key = `${d.stream} ${d.setting}`;
    const known = this.#unapplied.has(key);
    this.#unapplied.set(key, { ...d, error: error instanceof Error ? error.message : String(error) });
    if (!known) log.warn({ stream: d.stream, setting: d.setting, have: d.have, want: d.want, err: error, fix: fixFor(d) }, "stream setting not changed: the server refuses to change it on an existing stream");
  }
}
