import { readFileSync, readdirSync } from "node:fs";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { crdFiles } from "../scripts/crds.js";
import { everyStatus } from "./harness/kube-statuses.js";

const dir = new URL("../crds/", import.meta.url);
const chartDir = new URL("../charts/fleetwall/crds/", import.meta.url);

type Schema = { type?: string; properties?: Record<string, Schema>; items?: Schema; additionalProperties?: Schema | boolean; anyOf?: unknown; description?: string; [k: string]: unknown };

/** Every node typed (or int-or-string / preserve-unknown-fields), no anyOf, no $ref: what the API server calls structural. */
function structuralProblems(s: Schema, path: string, out: string[]): string[] {
  if (s.anyOf || s.oneOf || s.$ref) out.push(`${path}: anyOf/oneOf/$ref`);
  if (!s.type && !s["x-kubernetes-int-or-string"] && !s["x-kubernetes-preserve-unknown-fields"]) out.push(`${path}: no type`);
  if (s.properties && s.additionalProperties) out.push(`${path}: properties beside additionalProperties`);
  for (const [k, v] of Object.entries(s.properties ?? {})) structuralProblems(v, `${path}.${k}`, out);
  if (s.items) structuralProblems(s.items, `${path}[]`, out);
  if (s.additionalProperties && typeof s.additionalProperties === "object") structuralProblems(s.additionalProperties, `${path}{}`, out);
  return out;
}

function descriptionsMissing(s: Schema, path: string, out: string[]): string[] {
  for (const [k, v] of Object.entries(s.properties ?? {})) {
    if (!v.description) out.push(`${path}.${k}`);
    descriptionsMissing(v, `${path}.${k}`, out);
    if (v.items) descriptionsMissing(v.items, `${path}.${k}[]`, out);
  }
  return out;
}

/** Object nodes under `path` that would prune fields the schema does not name. */
function pruningObjects(s: Schema, path: string, out: string[]): string[] {
  if (s.type === "object" && s.properties && !s["x-kubernetes-preserve-unknown-fields"]) out.push(path);
  for (const [k, v] of Object.entries(s.properties ?? {})) pruningObjects(v, `${path}.${k}`, out);
  if (s.items) pruningObjects(s.items, `${path}[]`, out);
  return out;
}

/** Paths in `value` the schema does not declare: what a real API server would prune. */
function undeclared(value: unknown, s: Schema, path: string, out: string[]): string[] {
  if (Array.isArray(value)) value.forEach((v, i) => (s.items ? undeclared(v, s.items, `${path}[${i}]`, out) : out.push(`${path}[${i}]`)));
  else if (value && typeof value === "object" && !s["x-kubernetes-preserve-unknown-fields"] && typeof s.additionalProperties !== "object") {
    for (const [k, v] of Object.entries(value)) {
      const child = s.properties?.[k];
      if (child) undeclared(v, child, `${path}.${k}`, out);
      else out.push(`${path}.${k}`);
    }
  }
  return out;
}

describe("crds/", () => {
  const generated = crdFiles();

  it.each([dir, chartDir])("%s is what scripts/gen-crds.ts generates from the zod schemas (run `npm run gen:crds` after changing api/)", (d) => {
    expect(readdirSync(d).filter((f) => f.endsWith(".yaml")).sort()).toEqual([...generated.keys()].sort());
    for (const [name, text] of generated) expect(readFileSync(new URL(name, d), "utf8"), name).toBe(text);
  });

  it.each([...generated.keys()])("%s is structural, cluster-scoped, with a status subresource and short names", (name) => {
    const crd = parse(generated.get(name) as string);
    expect(crd.spec.scope).toBe("Cluster");
    expect(crd.spec.names.categories).toEqual(["fleetwall"]);
    expect(crd.spec.names.shortNames).toHaveLength(1);
    const version = crd.spec.versions[0];
    expect(version.subresources).toEqual({ status: {} });
    expect(structuralProblems(version.schema.openAPIV3Schema, "", [])).toEqual([]);
  });

  it("describes every field of FirewallPolicy and BanList specs, so kubectl explain teaches the language", () => {
    for (const name of ["firewallpolicies.fleetwall.io.yaml", "banlists.fleetwall.io.yaml"]) {
      const spec = parse(generated.get(name) as string).spec.versions[0].schema.openAPIV3Schema.properties.spec;
      expect(descriptionsMissing(spec, "spec", []), name).toEqual([]);
    }
  });

  it.each(["firewallpolicies.fleetwall.io.yaml", "banlists.fleetwall.io.yaml"])("%s keeps unknown spec fields, so the controller's strict parse sees and refuses them (a 1.24 server would prune them silently)", (name) => {
    const spec = parse(generated.get(name) as string).spec.versions[0].schema.openAPIV3Schema.properties.spec;
    expect(pruningObjects(spec, "spec", [])).toEqual([]);
  });

  it("declares every status field the controller writes, so the API server prunes none of them", () => {
    const statuses = everyStatus();
    expect([...new Set([...statuses.keys()].map((k) => k.split("/")[0]))].sort()).toEqual(["banlists", "firewallhosts", "firewallpolicies"]);
    for (const [key, status] of statuses) {
      const schema = parse(generated.get(`${key.split("/")[0]}.fleetwall.io.yaml`) as string).spec.versions[0].schema.openAPIV3Schema.properties.status;
      expect(undeclared(status, schema, `${key}: status`, []), key).toEqual([]);
    }
  });
});

