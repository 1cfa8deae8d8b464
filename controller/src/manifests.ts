import { validateResource } from "./resource-check.js";
import { parseAllDocuments } from "yaml";
import { canonicalJson, type BanList, type FirewallPolicy, type Resource } from "@fleetwall/api";

export interface ManifestError {
  file: string;
  kind: string;
  name: string;
  errors: string[];
}

export interface ParsedFile {
  resources: Resource[];
  errors: ManifestError[];
  /** True when the file could not be read as YAML at all: nothing in it can be trusted. */
  unreadable: boolean;
}

/** Parses one YAML file of one or more documents (`---`), the form `kubectl apply -f` takes. */
export function parseManifestText(file: string, text: string): ParsedFile {
  const docs = parseAllDocuments(text, { prettyErrors: true });
  const out: ParsedFile = { resources: [], errors: [], unreadable: false };
  if (!Array.isArray(docs)) {
    return { resources: [], errors: [{ file, kind: "", name: "", errors: ["file is not a list of YAML documents"] }], unreadable: true };
  }
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      out.unreadable = true;
      out.errors.push({ file, kind: "", name: "", errors: doc.errors.map((e) => `YAML: ${e.message.split("\n")[0]}`) });
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      // an alias to nothing, an alias bomb: the document cannot be trusted
      out.unreadable = true;
      out.errors.push({ file, kind: "", name: "", errors: [`YAML: ${(error as Error).message.split("\n")[0]}`] });
      continue;
    }
    if (value === null || value === undefined) continue;
    const items = isList(value) ? value.items : [value];
    for (const item of items) {
      const result = validateResource(item);
      if (result.ok) out.resources.push(result.resource);
      else out.errors.push({ file, kind: result.kind, name: result.name, errors: result.errors });
    }
  }
  return out;
}

function isList(value: unknown): value is { items: unknown[] } {
  const v = value as { kind?: unknown; items?: unknown };
  return typeof v.kind === "string" && v.kind.endsWith("List") && v.kind !== "BanList" && Array.isArray(v.items);
}

export const policiesOf = (rs: readonly Resource[]): FirewallPolicy[] => rs.filter((r): r is FirewallPolicy => r.kind === "FirewallPolicy");
export const banListsOf = (rs: readonly Resource[]): BanList[] => rs.filter((r): r is BanList => r.kind === "BanList");

export interface PolicySet {
  policies: FirewallPolicy[];
  banLists: BanList[];
  errors: ManifestError[];
}

const SOURCE_FILE = "fleetwall.io/source-file";
const id = (r: { kind: string; metadata: { name: string } } | ManifestError) => ("metadata" in r ? `${r.kind}/${r.metadata.name}` : `${r.kind}/${r.name}`);

/**
 * Merges parsed files into one set of resources. Bad input loses nothing: a resource whose new text
 * is invalid, or that sits in a file that no longer parses, keeps its last valid version (`previous`),
 * as the API server keeps an object whose update it rejected. Generations count spec changes.
 *
 * A name defined in several files keeps its incumbent: the file `previous` says it came from (the
 * version in force, which survives controller restarts through the last-good bucket), else the
 * first file by path. Every other definition is refused with an error on its own file that names
 * both: a newcomer can never take over a policy in force.
 */
export function mergeResources(files: ReadonlyMap<string, ParsedFile>, previous: readonly Resource[]): PolicySet {
  const prev = new Map(previous.map((r) => [id(r), r]));
  const errors: ManifestError[] = [];
  /** id → file → the resource that file offers (its fresh version, else its carried last valid one). */
  const offers = new Map<string, Map<string, Resource>>();
  for (const [file, parsed] of [...files.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    errors.push(...parsed.errors);
    const fromFile = (r: Resource | undefined): r is Resource => !!r && r.metadata.annotations?.[SOURCE_FILE] === file;
    const carried = parsed.unreadable ? previous.filter(fromFile) : parsed.errors.map((e) => prev.get(id(e))).filter(fromFile);
    for (const resource of [...parsed.resources, ...carried]) {
      const byFile = offers.get(id(resource)) ?? new Map<string, Resource>();
      offers.set(id(resource), byFile);
      if (!byFile.has(file)) byFile.set(file, resource);
    }
  }
  const chosen: Resource[] = [];
  for (const [key, byFile] of offers) {
    const before = prev.get(key);
    const recorded = before?.metadata.annotations?.[SOURCE_FILE];
    const incumbent = recorded !== undefined && byFile.has(recorded) ? recorded : ([...byFile.keys()][0] as string);
    for (const [file, resource] of byFile) {
      if (file === incumbent) continue;
      const { kind, metadata: { name } } = resource;
      errors.push({ file, kind, name, errors: [`metadata.name: ${kind} "${name}" in ${file} is ignored: the name is already defined in ${incumbent}, which stays in force`] });
    }
    chosen.push(withGeneration(byFile.get(incumbent) as Resource, incumbent, before));
  }
  return { policies: policiesOf(chosen), banLists: banListsOf(chosen), errors };
}

function withGeneration<R extends Resource>(resource: R, file: string, before: Resource | undefined): R {
  // an unchanged file hands over the same parsed spec object: no need to serialise both to compare
  const sameSpec = before && (before.spec === resource.spec || canonicalJson(before.spec) === canonicalJson(resource.spec));
  const generation = before ? (before.metadata.generation ?? 1) + (sameSpec ? 0 : 1) : 1;
  return {
    ...resource,
    metadata: { ...resource.metadata, generation, annotations: { ...resource.metadata.annotations, [SOURCE_FILE]: file } },
  };
}

/** Where an invalid manifest is: its object (`FirewallPolicy/web`, the kube source) or its file (the dir source), never an empty field. */
export function manifestErrorFields(e: ManifestError): { file?: string; kind?: string; name?: string; errors: string[] } {
  return { ...(e.file ? { file: e.file } : {}), ...(e.kind ? { kind: e.kind } : {}), ...(e.name ? { name: e.name } : {}), errors: e.errors };
}

/**
 * The invalid manifests to log now: each once, and again only when its errors change (a set is
 * delivered on every change to any resource; the same error logged for every one of them buried the
 * news). `logged` (what was logged, by where it is) is replaced by the returned one. Pure.
 */
export function manifestErrorsToLog(errors: readonly ManifestError[], logged: ReadonlyMap<string, string>): { log: ManifestError[]; logged: Map<string, string> } {
  const where = (e: ManifestError) => JSON.stringify([e.file, e.kind, e.name]);
  const next = new Map<string, string>();
  // the errors of one place together (two bad documents of one file are one entry of both)
  for (const e of errors) next.set(where(e), `${next.get(where(e)) ?? ""}${JSON.stringify(e.errors)}`);
  return { log: errors.filter((e) => logged.get(where(e)) !== next.get(where(e))), logged: next };
}
