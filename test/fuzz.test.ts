import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { parseAllDocuments } from "yaml";
import { z } from "zod";
import { describe, expect, it } from "vitest";
import { BanList, BanSignal, FirewallPolicy, HostRegistration, HostReport, formatIssues, generateSigningKeyPem, loadSigningKey, parseResource, type ResourceResult } from "@fleetwall/api";
import { parseManifestText } from "@fleetwall/controller";
import { verifyDecision, verifyDesired, verifySeal } from "@fleetwall/agent";
import { REPO } from "./harness/fleet.js";

// Bad input is refused with an error that names the field: every parser that meets the outside world,
// fed arbitrary values and valid documents with one value broken. Each property is also run against
// a parser with its schema loosened to z.any(), and must fail there: a property that holds for a
// parser that accepts everything proves nothing.
const key = loadSigningKey(generateSigningKeyPem().privatePem).publicKeyPem;
const runs = { numRuns: 1000 };

type Path = (string | number)[];
type Parse = (doc: unknown) => { ok: true } | { ok: false; errors: string[] };

/** A path as formatIssues writes it: `spec.ingress[1].ports[0]`, a key that is not a plain name as `["…"]`. */
function formatPath(path: Path): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : !/^[A-Za-z_$][\w$-]*$/.test(p) ? `[${JSON.stringify(p)}]` : i === 0 ? p : `.${p}`)).join("");
}

function at(value: unknown, path: Path): { found: boolean; value: unknown } {
  let v = value;
  for (const p of path) {
    if (v === null || typeof v !== "object" || !Object.hasOwn(v, p)) return { found: false, value: undefined };
    v = (v as Record<string | number, unknown>)[p];
  }
  return { found: true, value: v };
}

/** Every path in a value, the value itself ([]) included. */
function paths(value: unknown, path: Path = []): Path[] {
  if (value === null || typeof value !== "object") return [path];
  return [path, ...Object.entries(value).flatMap(([k, v]) => paths(v, [...path, Array.isArray(value) ? Number(k) : k]))];
}

/** Whether `error` is about the field at `path` (`<path>: message`). */
const isAbout = (error: string, path: Path) => error.startsWith(`${formatPath(path)}: `);

/**
 * An error names a real field of the input: a value that is there, or a field missing from an object
 * that is there (a required field left out). `kind` is named for a document that is not an object.
 */
function namesRealField(input: unknown, error: string): boolean {
  if (input === null || typeof input !== "object" || Array.isArray(input)) return error.startsWith("kind: ") || (Array.isArray(input) && paths(input).some((p) => p.length > 0 && isAbout(error, p)));
  return paths(input).some((p) => {
    if (p.length > 0 && isAbout(error, p)) return true;
    const v = at(input, p).value;
    if (v === null || typeof v !== "object" || Array.isArray(v)) return false;
    const prefix = p.length ? `${formatPath(p)}.` : "";
    if (!error.startsWith(prefix)) return false;
    const key = error.slice(prefix.length).split(": ")[0] as string;
    return /^[\w$-]+$/.test(key) && !Object.hasOwn(v, key);
  });
}

const parseAsResource: Parse = (doc) => parseResource(doc) as ResourceResult;
/** The mutant: parseResource with every spec accepted as is. */
const loosened: Parse = (doc) => {
  const kind = (doc as { kind?: unknown } | null)?.kind;
  const schema = kind === "FirewallPolicy" ? FirewallPolicy.extend({ spec: z.any() }) : kind === "BanList" ? BanList.extend({ spec: z.any() }) : undefined;
  if (!schema) return parseAsResource(doc);
  const r = schema.safeParse(doc);
  return r.success ? { ok: true } : { ok: false, errors: formatIssues(r.error) };
};
const viaSchema = (schema: z.ZodType): Parse => (doc) => {
  const r = schema.safeParse(doc);
  return r.success ? { ok: true } : { ok: false, errors: formatIssues(r.error) };
};

// -- documents ------------------------------------------------------------------------------------

const ACTIONS = new Set(["Allow", "Deny", "Reject", "Log"]);
const notAnAction = fc.anything().filter((v) => !(typeof v === "string" && ACTIONS.has(v)));
const notAnObject = fc.anything().filter((v) => v === null || typeof v !== "object" || Array.isArray(v));

/** Documents no schema accepts: not objects, specs that are not objects, rules without a valid action. */
const brokenDocument = fc.oneof(
  fc.anything(),
  fc.record({ apiVersion: fc.constant("fleetwall.io/v1alpha1"), kind: fc.constantFrom("FirewallPolicy", "BanList"), metadata: fc.record({ name: fc.string() }), spec: notAnObject }),
  fc.record({
    apiVersion: fc.constant("fleetwall.io/v1alpha1"),
    kind: fc.constant("FirewallPolicy"),
    metadata: fc.constant({ name: "p" }),
    spec: fc.record({
      hostSelector: fc.constant({}),
      ingress: fc.array(
        fc.tuple(fc.dictionary(fc.constantFrom("name", "protocol", "ports", "sources", "rateLimit", "icmpTypes"), fc.anything()), notAnAction).map(([rule, action]) => ({ ...rule, action })),
        { minLength: 1, maxLength: 3 },
      ),
    }),
  }),
);

/** The example manifests: valid documents of every kind the directory source reads. */
const examples: unknown[] = ["web-server.yaml", "ssh-jail.yaml", "mail-server.yaml", "internal-service.yaml", "banlist.yaml", "gotosocial.yaml"].flatMap((f) =>
  parseAllDocuments(readFileSync(join(REPO, "examples", f), "utf8")).map((d) => d.toJS() as unknown),
);

/** Every path to a scalar (string, number, boolean) in a value. */
function leaves(value: unknown, path: Path = []): Path[] {
  if (value === null || typeof value !== "object") return path.length ? [path] : [];
  return Object.entries(value).flatMap(([k, v]) => leaves(v, [...path, Array.isArray(value) ? Number(k) : k]));
}

function setAt(value: unknown, path: Path, replacement: unknown): unknown {
  const copy = structuredClone(value);
  const parent = at(copy, path.slice(0, -1)).value as Record<string | number, unknown>;
  parent[path[path.length - 1] as string | number] = replacement;
  return copy;
}

/** A value of another type than `original`, which no field that holds `original` accepts. */
const wrongType = (original: unknown) =>
  fc.constantFrom<unknown>(null, [], ["x", 1], typeof original === "boolean" ? "true" : true, typeof original === "boolean" ? 0 : false);

/** A valid document with one scalar replaced by a value of a wrong type, and the path of that scalar. */
function oneValueBroken(docs: readonly unknown[]): fc.Arbitrary<{ doc: unknown; path: Path }> {
  return fc
    .constantFrom(...docs)
    .chain((doc) => fc.constantFrom(...leaves(doc).filter((p) => !isIgnoredLeaf(p))).map((path) => ({ doc, path })))
    .chain(({ doc, path }) => wrongType(at(doc, path).value).map((v) => ({ doc: setAt(doc, path, v), path })));
}

/** Where a wrong value is not refused by design: object metadata Kubernetes owns (annotations are free text). */
function isIgnoredLeaf(path: Path): boolean {
  return path[0] === "apiVersion" || path[0] === "kind" || (path[0] === "metadata" && path[1] !== "name" && path[1] !== "labels");
}

/** Every path to an object of a spec (records of labels excepted: any key is theirs). */
function specObjects(value: unknown, path: Path = []): Path[] {
  if (value === null || typeof value !== "object") return [];
  const here = !Array.isArray(value) && path[0] === "spec" && !path.some((p) => p === "matchLabels" || p === "labels") ? [path] : [];
  return [...here, ...Object.entries(value).flatMap(([k, v]) => specObjects(v, [...path, Array.isArray(value) ? Number(k) : k]))];
}

/** A valid document with a field no schema has added to one of its spec's objects, and where. */
function oneUnknownField(docs: readonly unknown[]): fc.Arbitrary<{ doc: unknown; path: Path }> {
  const name = fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9]{0,11}$/).map((n) => `x${n}`);
  return fc
    .constantFrom(...docs)
    .chain((doc) => fc.tuple(fc.constant(doc), fc.constantFrom(...specObjects(doc)), name, fc.jsonValue()))
    .filter(([doc, path, key]) => !Object.hasOwn(at(doc, path).value as object, key))
    .map(([doc, path, key, value]) => ({ doc: setAt(doc, [...path, key], value), path: [...path, key] }));
}

// -- properties -----------------------------------------------------------------------------------

/** Arbitrary documents are refused, and every error names a field of the document. */
const refusesBrokenDocuments = (parse: Parse) =>
  fc.property(brokenDocument, (doc) => {
    const r = parse(doc);
    if (r.ok) return false;
    return r.errors.length > 0 && r.errors.every((e) => namesRealField(doc, e));
  });

/** A wrong-typed value anywhere is refused, with an error at that field or at a field that contains it. */
const refusesOneBrokenValue = (parse: Parse, docs: readonly unknown[]) =>
  fc.property(oneValueBroken(docs), ({ doc, path }) => {
    const r = parse(doc);
    if (r.ok) return false;
    // an error names the broken field itself, or the union (e.g. icmp, a port) it is a branch of
    const named = r.errors.some((e) => path.some((_, i) => !(i === 0 && path[0] === "spec") && isAbout(e, path.slice(0, i + 1))));
    return named && r.errors.every((e) => namesRealField(doc, e));
  });

/** A field no schema knows, anywhere in a spec, is refused with an error naming exactly that field. */
const refusesUnknownFields = (parse: Parse, docs: readonly unknown[]) =>
  fc.property(oneUnknownField(docs), ({ doc, path }) => {
    const r = parse(doc);
    if (r.ok) return false;
    return r.errors.some((e) => isAbout(e, path) && /unknown field/.test(e));
  });

function holds(property: fc.IProperty<[unknown]> | fc.IProperty<[{ doc: unknown; path: Path }]>): void {
  fc.assert(property as fc.IProperty<[unknown]>, runs);
}

function failsFor(property: fc.IProperty<[unknown]> | fc.IProperty<[{ doc: unknown; path: Path }]>): boolean {
  return fc.check(property as fc.IProperty<[unknown]>, { numRuns: 200 }).failed;
}

const registration = { schemaVersion: 1, hostId: "web-1", labels: { role: "web" }, addresses: ["198.18.1.11"], agentVersion: "0.1.0", nftVersion: "1.0.6", startedAt: "2026-01-01T00:00:00Z" };
const report = { schemaVersion: 1, hostId: "web-1", at: "2026-01-01T00:00:00Z", state: "Applied", desiredRevision: 3, appliedRevision: 3, appliedHash: "ab", rulesetHash: "cd", driftRepairs: 0, droppedMessages: 0, auditDrops: { web: 2 }, activeBans: 1 };
const signal = { schemaVersion: 1, hostId: "web-1", jail: "sshd", address: "203.0.113.9", failures: 5, at: "2026-01-01T00:00:00Z", banSeconds: 600, increment: { factor: 2, maxSeconds: 86400 } };
const MESSAGES = [
  ["HostRegistration", HostRegistration, registration],
  ["HostReport", HostReport, report],
  ["BanSignal", BanSignal, signal],
] as const;

describe("fuzzing the parsers of the outside world", () => {
  it("the examples are valid, and a broken copy of each is what the properties below start from", () => {
    expect(examples.length).toBeGreaterThanOrEqual(6);
    for (const doc of examples) expect(parseResource(doc)).toMatchObject({ ok: true });
    for (const [, schema, valid] of MESSAGES) expect(schema.safeParse(valid).success).toBe(true);
  });

  it("namesRealField tells a field of the input, or one missing from an object of it, from anything else", () => {
    const doc = { spec: { ingress: [{ ports: [0] }] } };
    expect(namesRealField(doc, "spec.ingress[0].ports[0]: port 0 is outside 1-65535")).toBe(true);
    expect(namesRealField(doc, "spec.ingress[0].action: Invalid option")).toBe(true);
    expect(namesRealField(doc, "kind: unsupported kind null")).toBe(true);
    expect(namesRealField(doc, "spec.egress[3].ports: Invalid input")).toBe(false);
    expect(namesRealField(doc, "Invalid input")).toBe(false);
    expect(namesRealField(7, "kind: unsupported kind null")).toBe(true);
    // a key that is not a plain name is quoted, so " " under rateLimit cannot read as rateLimit itself
    expect(namesRealField({ rateLimit: { " ": 1 } }, 'rateLimit[" "]: unknown field')).toBe(true);
    expect(namesRealField({ rateLimit: { " ": 1 } }, "rateLimit. : unknown field")).toBe(false);
  });

  it("parseResource refuses arbitrary documents, each error naming a field of the document", () => {
    holds(refusesBrokenDocuments(parseAsResource));
  });

  it("parseResource refuses a valid manifest with any one value of a wrong type, naming that field", () => {
    holds(refusesOneBrokenValue(parseAsResource, examples));
  });

  it("parseResource refuses a valid manifest with a field no schema knows anywhere in its spec, naming that field", () => {
    holds(refusesUnknownFields(parseAsResource, examples));
  });

  it("the properties fail for a parser whose spec schema is z.any() (they can catch a loosened schema)", () => {
    expect(failsFor(refusesBrokenDocuments(loosened))).toBe(true);
    expect(failsFor(refusesOneBrokenValue(loosened, examples))).toBe(true);
    expect(failsFor(refusesUnknownFields(loosened, examples))).toBe(true);
    // and for one that accepts everything
    expect(failsFor(refusesBrokenDocuments(() => ({ ok: true })))).toBe(true);
  });

  it.each(MESSAGES)("%s: arbitrary values and a valid message with one value of a wrong type are refused, naming the field", (_name, schema, valid) => {
    holds(fc.property(fc.anything(), (v) => {
      const r = viaSchema(schema)(v);
      return !r.ok && r.errors.every((e) => namesRealField(v, e) || (typeof v !== "object" || v === null || Array.isArray(v)));
    }));
    holds(refusesOneBrokenValue(viaSchema(schema), [valid]));
    expect(failsFor(refusesOneBrokenValue(viaSchema(z.any()), [valid]))).toBe(true);
  });

  it("parseManifestText never throws on arbitrary text, and keeps only documents parseResource accepts", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (text) => {
        const parsed = parseManifestText("f.yaml", text);
        for (const r of parsed.resources) expect(parseResource(r).ok).toBe(true);
        for (const e of parsed.errors) expect(e.file).toBe("f.yaml");
      }),
      runs,
    );
  });

  it("message checks accept nothing unsigned", () => {
    const text = fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v)), fc.record({ schemaVersion: fc.constant(1), keyId: fc.string(), payload: fc.string(), signature: fc.string(), seal: fc.option(fc.string(), { nil: undefined }) }).map((v) => JSON.stringify(v)));
    fc.assert(
      fc.property(text, (t) => {
        expect(verifyDesired(t, { hostId: "h", trustedKey: key, appliedRevision: 0 }).ok).toBe(false);
        expect(verifyDecision(t, key).ok).toBe(false);
        expect(verifySeal(t, key).ok).toBe(false);
      }),
      runs,
    );
  });
});
