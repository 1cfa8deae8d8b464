import { readFile } from "node:fs/promises";
import { parseLabelList, type FirewallPolicy } from "@fleetwall/api";
import { render, type Failsafe } from "@fleetwall/agent";
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

/** The nft script a host with these labels would get from these manifest files. No NATS, no root. */
export async function renderForLabels(files: string[], labels: string, failsafe: Failsafe): Promise<string> {
  const policies = await loadManifestFiles(files);
  const host = { id: "render", labels: parseLabelList(labels) };
  const compiled = compile(policies, [host]).hosts.get("render");
  if (!compiled) throw new Error("compile produced no state");
  return render(compiled.ruleset, failsafe).script;
}
