import { parseAllDocuments } from "yaml";
import { canonicalJson, parseResource, type FirewallPolicy } from "@fleetwall/api";

export interface ManifestError {
  file: string;
  kind: string;
  name: string;
  errors: string[];
}

export interface ParsedFile {
  policies: FirewallPolicy[];
  errors: ManifestError[];
  /** True when the file could not be read as YAML at all: nothing in it can be trusted. */
  unreadable: boolean;
}

/** Parses one YAML file of one or more documents (`---`), the form `kubectl apply -f` takes. */
export function parseManifestText(file: string, text: string): ParsedFile {
  const docs = parseAllDocuments(text, { prettyErrors: true });
  const out: ParsedFile = { policies: [], errors: [], unreadable: false };
  if (!Array.isArray(docs)) {
    return { policies: [], errors: [{ file, kind: "", name: "", errors: ["file is not a list of YAML documents"] }], unreadable: true };
  }
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      out.unreadable = true;
      out.errors.push({ file, kind: "", name: "", errors: doc.errors.map((e) => `YAML: ${e.message.split("\n")[0]}`) });
      continue;
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const items = isList(value) ? value.items : [value];
    for (const item of items) {
      const result = parseResource(item);
      if (result.ok) out.policies.push(result.resource);
      else out.errors.push({ file, kind: result.kind, name: result.name, errors: result.errors });
    }
  }
  return out;
}

function isList(value: unknown): value is { items: unknown[] } {
  const v = value as { kind?: unknown; items?: unknown };
  return typeof v.kind === "string" && v.kind.endsWith("List") && Array.isArray(v.items);
}

export interface PolicySet {
  policies: FirewallPolicy[];
  errors: ManifestError[];
}

/**
 * Merges parsed files into one set of policies. Bad input loses nothing: a policy whose new text is
 * invalid, or that sits in a file that no longer parses, keeps its last valid version (`previous`),
 * as the API server keeps an object whose update it rejected. Generations count spec changes.
 */
export function mergePolicies(files: ReadonlyMap<string, ParsedFile>, previous: readonly FirewallPolicy[]): PolicySet {
  const prev = new Map(previous.map((p) => [p.metadata.name, p]));
  const byName = new Map<string, FirewallPolicy>();
  const errors: ManifestError[] = [];
  const origin = new Map<string, string>();
  for (const [file, parsed] of [...files.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    errors.push(...parsed.errors);
    const carried = parsed.unreadable
      ? previous.filter((p) => p.metadata.annotations?.["fleetwall.io/source-file"] === file)
      : parsed.errors.map((e) => prev.get(e.name)).filter((p): p is FirewallPolicy => !!p && p.metadata.annotations?.["fleetwall.io/source-file"] === file);
    for (const policy of [...parsed.policies, ...carried]) {
      const name = policy.metadata.name;
      const other = origin.get(name);
      if (other !== undefined && other !== file) {
        errors.push({ file, kind: "FirewallPolicy", name, errors: [`metadata.name: "${name}" is already defined in ${other}`] });
        continue;
      }
      if (byName.has(name) && !parsed.policies.includes(policy)) continue;
      origin.set(name, file);
      byName.set(name, withGeneration(policy, file, prev.get(name)));
    }
  }
  return { policies: [...byName.values()], errors };
}

function withGeneration(policy: FirewallPolicy, file: string, before: FirewallPolicy | undefined): FirewallPolicy {
  const sameSpec = before && canonicalJson(before.spec) === canonicalJson(policy.spec);
  const generation = before ? (before.metadata.generation ?? 1) + (sameSpec ? 0 : 1) : 1;
  return {
    ...policy,
    metadata: {
      ...policy.metadata,
      generation,
      annotations: { ...policy.metadata.annotations, "fleetwall.io/source-file": file },
    },
  };
}
