import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { importFail2ban, manifestInputs, type ImportNote } from "@fleetwall/agent/fail2ban";
import { stringify } from "yaml";

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

export interface ImportResult {
  yaml: string;
  jails: string[];
  notes: ImportNote[];
}

/** `fleetwall import fail2ban [DIR]`: fail2ban's enabled jails as fleetwall manifests, and what was left out. */
export function importFail2banDir(dir: string, options: { name: string; matchLabels: Record<string, string>; out?: string }): ImportResult {
  const imp = importFail2ban(readText, listDir, dir.replace(/\/+$/, ""));
  const docs = manifestInputs(imp, { name: options.name, matchLabels: options.matchLabels });
  const yaml = docs.map((d) => stringify(d, { lineWidth: 0 })).join("---\n");
  if (options.out) writeFileSync(options.out, yaml);
  return { yaml, jails: imp.jails.map((j) => j.name), notes: imp.notes };
}

export function formatNotes(notes: readonly ImportNote[]): string {
  return notes.map((n) => `not imported: [${n.jail}] ${n.what}: ${n.why}`).join("\n") + (notes.length ? "\n" : "");
}
