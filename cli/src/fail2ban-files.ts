import { readdirSync, readFileSync } from "node:fs";

// How the CLI reads fail2ban's configuration for `import fail2ban` and `jail test --filter-file`.

/** Reads a file as fail2ban's reader wants it: its text, or undefined when there is none. */
export function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

export function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
