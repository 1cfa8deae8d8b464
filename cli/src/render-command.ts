import { readFile } from "node:fs/promises";
import { parseLabelList, type FirewallPolicy } from "@fleetwall/api";
import { failsafeNotes, render, type Failsafe } from "@fleetwall/agent";
import { compile, parseManifestText, policiesOf, type ManifestError } from "@fleetwall/controller";

export class InvalidManifestError extends Error {
  override name = "InvalidManifestError";
  constructor(readonly errors: ManifestError[]) {
    super(errors.map((e) => `${e.file}: ${e.kind || "document"} ${e.name || ""}: ${e.errors.join("; ")}`).join("\n"));
  }
}

/** Reads manifest files for a one-off command; any invalid document fails the whole command. */
export async function loadManifestFiles(files: string[]): Promise<FirewallPolicy[]> {
  const policies: FirewallPolicy[] = [];
  const errors: ManifestError[] = [];
  for (const file of files) {
    const parsed = parseManifestText(file, await readFile(file, "utf8"));
    policies.push(...policiesOf(parsed.resources));
    errors.push(...parsed.errors);
  }
  if (errors.length > 0) throw new InvalidManifestError(errors);
  return policies;
}

/**
 * The nft script a host with these labels would get from these manifest files, after comment lines
 * that say what the failsafe overrides. No NATS, no root.
 */
export async function renderForLabels(files: string[], labels: string, failsafe: Failsafe): Promise<string> {
  const policies = await loadManifestFiles(files);
  const host = { id: "render", labels: parseLabelList(labels) };
  const compiled = compile(policies, [host]).hosts.get("render");
  if (!compiled) throw new Error("compile produced no state");
  // what the failsafe overrides, said first: as nft comments, so the output still loads with nft -f
  const notes = failsafeNotes(compiled.ruleset, failsafe).map((n) => `# ${n}\n`).join("");
  return `${notes}${render(compiled.ruleset, failsafe).script}`;
}
