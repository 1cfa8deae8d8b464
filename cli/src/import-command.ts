import { writeFileSync } from "node:fs";
import { parseLabelList } from "@fleetwall/api";
import { importFail2ban, manifestInputs, type ImportNote } from "@fleetwall/agent/fail2ban";
import { stringify } from "yaml";
import { ConfigError } from "./config-error.js";
import { listDir, readText } from "./fail2ban-files.js";

export interface ImportResult {
  yaml: string;
  jails: string[];
  notes: ImportNote[];
}

/** `fleetwall import fail2ban [DIR]`: fail2ban's enabled jails as fleetwall manifests, and what was left out. */
/** `--selector k=v,...`: the labels the imported jails' hosts carry (none: every host). */
export function selectorLabels(text: string | undefined): Record<string, string> {
  try {
    return parseLabelList(text ?? "");
  } catch (e) {
    throw new ConfigError(`--selector: ${(e as Error).message}`);
  }
}

export function importFail2banDir(dir: string, options: { name: string; matchLabels: Record<string, string>; out?: string }): ImportResult {
  const imp = importFail2ban(readText, listDir, dir.replace(/\/+$/, ""));
  const docs = manifestInputs(imp, { name: options.name, matchLabels: options.matchLabels });
  const yaml = docs.map((d) => stringify(d, { lineWidth: 0 })).join("---\n");
  if (options.out) writeFileSync(options.out, yaml);
  return { yaml, jails: imp.jails.map((j) => j.name), notes: imp.notes };
}

/** One line per note, labelled by kind: `converted:`, `note:` or `not imported:`. */
export function formatNotes(notes: readonly ImportNote[]): string {
  return notes.map((n) => `${n.kind ?? "not imported"}: [${n.jail}] ${n.what}: ${n.why}`).join("\n") + (notes.length ? "\n" : "");
}
