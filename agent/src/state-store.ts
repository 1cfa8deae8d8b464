import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Files the agent keeps in its state directory, written atomically (temp file, then rename). */
let writes = 0;

export class StateStore {
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  async read(name: string): Promise<string | undefined> {
    try {
      return await readFile(join(this.dir, name), "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }

  async write(name: string, text: string): Promise<void> {
    const path = join(this.dir, name);
    writes += 1;
    const tmp = `${path}.tmp-${process.pid}-${writes}`;
    await writeFile(tmp, text, { mode: 0o600 });
    await rename(tmp, path);
  }
}

export const LAST_APPLIED = "last-applied.json";
export const PINNED_KEY = "controller.pub";
export const JAIL_POSITIONS = "jail-positions.json";
/** This host's own jail bans, so a restarted agent still reports and can lift them. */
export const LOCAL_BANS = "local-bans.json";
/** The fleet's protection list last taken (fleet-shield.ts): protects before the bus is reached, and refuses older ones. */
export const FLEET_PROTECTION = "fleet-protection.json";
/** Every file the agent writes in its state directory (what `fleetwall agent uninstall` removes). */
export const AGENT_STATE_FILES = [LAST_APPLIED, PINNED_KEY, JAIL_POSITIONS, LOCAL_BANS, FLEET_PROTECTION] as const;
