import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = "/run/fleetwall-test/slots";

/**
 * A number unique among the test fleets alive on this machine (vitest runs files in parallel),
 * taken with an atomic mkdir; a slot whose owner died is taken over. Each slot owns the names
 * `fw<slot>…` and the subnets 198.18.<slot>.0/24 and 2001:db8:<slot>::/64.
 */
export function takeSlot(): { slot: number; stale: boolean; release: () => void } {
  mkdirSync(ROOT, { recursive: true });
  for (let slot = 1; slot < 250; slot += 1) {
    const dir = join(ROOT, String(slot));
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, "pid"), String(process.pid));
      return { slot, stale: false, release: () => rmSync(dir, { recursive: true, force: true }) };
    } catch {
      let owner = 0;
      try {
        owner = Number(readFileSync(join(dir, "pid"), "utf8"));
      } catch {
        continue; // being created right now
      }
      if (owner && !alive(owner)) {
        writeFileSync(join(dir, "pid"), String(process.pid));
        return { slot, stale: true, release: () => rmSync(dir, { recursive: true, force: true }) };
      }
    }
  }
  throw new Error("no free test slot");
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
