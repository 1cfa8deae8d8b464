import { z } from "zod";

export interface LocalBan {
  jail: string;
  address: string;
  /** ms */
  expiresAt: number;
}

const Saved = z.array(z.object({ jail: z.string(), address: z.string(), expiresAt: z.number() }).strict());

/**
 * Bans this host's own jails made (share: Local or not yet decided by the fleet), by address: few,
 * kept in the state directory so a restarted agent still knows, reports and can lift them.
 */
export class LocalBans {
  #bans = new Map<string, LocalBan>();

  get size(): number {
    return this.#bans.size;
  }

  get(address: string): LocalBan | undefined {
    return this.#bans.get(address);
  }

  /** Bans `address` until `expiresAt` (the later of this and any ban it has); returns the ban in force. */
  add(jail: string, address: string, expiresAt: number): LocalBan {
    const had = this.#bans.get(address);
    const ban = had && had.expiresAt >= expiresAt ? had : { jail, address, expiresAt };
    this.#bans.set(address, ban);
    return ban;
  }

  lift(address: string): LocalBan | undefined {
    const had = this.#bans.get(address);
    this.#bans.delete(address);
    return had;
  }

  /** Forgets bans that expired by `now`; returns their addresses. */
  sweep(now: number): string[] {
    const gone = [...this.#bans.values()].filter((b) => b.expiresAt <= now).map((b) => b.address);
    for (const a of gone) this.#bans.delete(a);
    return gone;
  }

  list(): LocalBan[] {
    return [...this.#bans.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  }

  toJSON(): string {
    return JSON.stringify(this.list());
  }

  /** Restores saved bans still in force at `now`; text that does not parse restores nothing. */
  restore(text: string | undefined, now: number): number {
    if (!text) return 0;
    let saved: LocalBan[];
    try {
      saved = Saved.parse(JSON.parse(text));
    } catch {
      return 0;
    }
    for (const b of saved) if (b.expiresAt > now) this.add(b.jail, b.address, b.expiresAt);
    return this.#bans.size;
  }
}

/** A writer that writes one text after the other, never two at once; a failure is told and the next write goes on. */
export function serialWriter(write: (text: string) => Promise<void>, onError: (error: unknown) => void): (text: string) => void {
  let last = Promise.resolve();
  return (text) => {
    last = last.then(() => write(text)).catch(onError);
  };
}
