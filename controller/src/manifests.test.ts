import { describe, expect, it } from "vitest";
import { manifestErrorFields, manifestErrorsToLog, mergeResources, parseManifestText, policiesOf, type ManifestError, type ParsedFile } from "./manifests.js";
import { planPublish } from "./publisher.js";
import { compile } from "./compile.js";
import { policyYaml } from "../../test/harness/policy-yaml.js";

const doc = policyYaml;

const files = (entries: Record<string, string>) => new Map(Object.entries(entries).map(([f, t]) => [f, parseManifestText(f, t)] as [string, ParsedFile]));

describe("manifests", () => {
  it("reads several documents per file and kind: List", () => {
    const parsed = parseManifestText("a.yaml", `${doc("a", 22)}---\n${doc("b", 80)}---\n`);
    expect(policiesOf(parsed.resources).map((p) => p.metadata.name)).toEqual(["a", "b"]);
    const list = parseManifestText("l.yaml", `kind: List\nitems:\n  - ${JSON.stringify({ apiVersion: "fleetwall.io/v1alpha1", kind: "FirewallPolicy", metadata: { name: "c" }, spec: { hostSelector: {} } })}\n`);
    expect(policiesOf(list.resources).map((p) => p.metadata.name)).toEqual(["c"]);
  });

  it("reports an invalid document by file, kind, name and field", () => {
    const parsed = parseManifestText("a.yaml", doc("a", 70000));
    expect(parsed.errors).toEqual([{ file: "a.yaml", kind: "FirewallPolicy", name: "a", errors: [expect.stringContaining("spec.ingress[0].ports[0]")] }]);
  });

  it("keeps the last valid version of a policy whose new text is invalid", () => {
    const first = mergeResources(files({ "a.yaml": doc("a", 22) }), []);
    const second = mergeResources(files({ "a.yaml": doc("a", 70000) }), first.policies);
    expect(second.policies).toHaveLength(1);
    expect(second.policies[0]?.spec.ingress[0]?.ports).toEqual([22]);
    expect(second.errors).toHaveLength(1);
  });

  it("keeps every policy of a file that no longer parses as YAML", () => {
    const first = mergeResources(files({ "a.yaml": `${doc("a", 22)}---\n${doc("b", 80)}` }), []);
    const broken = mergeResources(files({ "a.yaml": "spec: [unclosed\n" }), first.policies);
    expect(broken.policies.map((p) => p.metadata.name).sort()).toEqual(["a", "b"]);
    expect(broken.errors[0]?.errors[0]).toMatch(/^YAML:/);
  });

  it("treats a document with an unresolved alias or an alias bomb as unreadable, without throwing", () => {
    expect(parseManifestText("a.yaml", "*!").errors[0]?.errors[0]).toMatch(/^YAML:/);
    const bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]", ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(", ")}]`)].join("\n");
    expect(parseManifestText("bomb.yaml", bomb).unreadable).toBe(true);
  });

  it("drops a policy whose file is removed, and refuses a name defined twice", () => {
    const first = mergeResources(files({ "a.yaml": doc("a", 22) }), []);
    expect(mergeResources(files({}), first.policies).policies).toEqual([]);
    const dup = mergeResources(files({ "a.yaml": doc("a", 22), "b.yaml": doc("a", 80) }), []);
    expect(dup.policies.map((p) => p.spec.ingress[0]?.ports)).toEqual([[22]]);
    expect(dup.errors).toEqual([{ file: "b.yaml", kind: "FirewallPolicy", name: "a", errors: ['metadata.name: FirewallPolicy "a" in b.yaml is ignored: the name is already defined in a.yaml, which stays in force'] }]);
  });

  it("keeps the incumbent of a name in force when a newcomer that sorts first defines it too", () => {
    const first = mergeResources(files({ "web.yaml": doc("web", 22) }), []);
    const dup = mergeResources(files({ "a-web.yaml": doc("web", 80), "web.yaml": doc("web", 22) }), first.policies);
    expect(dup.policies.map((p) => [p.spec.ingress[0]?.ports, p.metadata.annotations?.["fleetwall.io/source-file"]])).toEqual([[[22], "web.yaml"]]);
    expect(dup.errors).toEqual([{ file: "a-web.yaml", kind: "FirewallPolicy", name: "web", errors: [expect.stringContaining("in a-web.yaml is ignored: the name is already defined in web.yaml")] }]);
    // still so on the next pass (and after a restart, whose `previous` comes from the last-good bucket)
    expect(mergeResources(files({ "a-web.yaml": doc("web", 80), "web.yaml": doc("web", 22) }), dup.policies).policies[0]?.spec.ingress[0]?.ports).toEqual([22]);
    // the incumbent's file gone: the other definition takes over
    expect(mergeResources(files({ "a-web.yaml": doc("web", 80) }), dup.policies).policies[0]?.spec.ingress[0]?.ports).toEqual([80]);
  });

  it("keeps the incumbent when its new text is invalid and a newcomer is valid", () => {
    const first = mergeResources(files({ "web.yaml": doc("web", 22) }), []);
    const next = mergeResources(files({ "a-web.yaml": doc("web", 80), "web.yaml": doc("web", 70000) }), first.policies);
    expect(next.policies.map((p) => p.spec.ingress[0]?.ports)).toEqual([[22]]);
    expect(next.errors.map((e) => e.file).sort()).toEqual(["a-web.yaml", "web.yaml"]);
  });

  it("counts generations by spec change", () => {
    const g1 = mergeResources(files({ "a.yaml": doc("a", 22) }), []);
    const same = mergeResources(files({ "a.yaml": doc("a", 22) }), g1.policies);
    const changed = mergeResources(files({ "a.yaml": doc("a", 23) }), same.policies);
    expect([g1, same, changed].map((s) => s.policies[0]?.metadata.generation)).toEqual([1, 1, 2]);
  });
});

describe("invalid manifests logged once", () => {
  const bad = (name: string, errors: string[], file = ""): ManifestError => ({ file, kind: "FirewallPolicy", name, errors });

  it("logs each invalid manifest once, again only when its errors change, and forgets fixed ones", () => {
    let logged = new Map<string, string>();
    const turn = (errors: ManifestError[]) => {
      const r = manifestErrorsToLog(errors, logged);
      logged = r.logged;
      return r.log.map((e) => e.name);
    };
    expect(turn([bad("a", ["spec.ports[0]: too big"]), bad("b", ["x"])])).toEqual(["a", "b"]);
    expect(turn([bad("a", ["spec.ports[0]: too big"]), bad("b", ["x"])])).toEqual([]);
    expect(turn([bad("a", ["spec.ports[0]: too big"]), bad("b", ["y"])])).toEqual(["b"]);
    expect(turn([bad("b", ["y"])])).toEqual([]);
    // fixed, then broken the same way again: news again
    expect(turn([bad("a", ["spec.ports[0]: too big"]), bad("b", ["y"])])).toEqual(["a"]);
  });

  it("names the object (kube) or the file (dir), never with an empty field", () => {
    expect(manifestErrorFields(bad("web", ["e"]))).toEqual({ kind: "FirewallPolicy", name: "web", errors: ["e"] });
    expect(manifestErrorFields({ file: "p.yaml", kind: "", name: "", errors: ["YAML: bad"] })).toEqual({ file: "p.yaml", errors: ["YAML: bad"] });
  });
});

describe("planPublish", () => {
  const { policies } = mergeResources(files({ "a.yaml": doc("a", 22) }), []);
  const compiled = compile(policies, [{ id: "h1", labels: {} }, { id: "h2", labels: {} }]).hosts;

  it("publishes revision 1 for new hosts and nothing when hashes match", () => {
    const plan = planPublish(compiled, new Map());
    expect(plan.map((s) => [s.hostId, s.revision])).toEqual([["h1", 1], ["h2", 1]]);
    const published = new Map(plan.map((s) => [s.hostId, { revision: s.revision, hash: s.hash }]));
    expect(planPublish(compiled, published)).toEqual([]);
  });

  it("continues the revision of what the bucket holds when the hash differs", () => {
    const plan = planPublish(compiled, new Map([["h1", { revision: 41, hash: "old" }]]));
    expect(plan.map((s) => [s.hostId, s.revision])).toEqual([["h1", 42], ["h2", 1]]);
  });
});

describe("a jail regex the agent would refuse", () => {
  it("makes the policy invalid with the field's path (the agent's engine, not only the schema)", () => {
    const text = `apiVersion: fleetwall.io/v1alpha1
kind: FirewallPolicy
metadata: {name: hand}
spec:
  hostSelector: {}
  defaultInput: Accept
  jails:
    - name: x
      source: {file: /var/log/x.log}
      datePattern: "{^LN-BEG}"
      failRegex: ["limiting requests, client: <HOST>,", "limiting (requests client: <HOST>,"]
    - name: y
      source: {file: /var/log/y.log}
      failRegex: ['(a)\\1 from <HOST>']
`;
    const parsed = parseManifestText("y.yaml", text);
    expect(parsed.resources).toEqual([]);
    const errors = parsed.errors.flatMap((e) => e.errors);
    expect(errors, errors.join("\n")).toHaveLength(2);
    expect(errors[0]).toMatch(/^spec\.jails\[0\]\.failRegex\[1\]: does not parse: Unterminated group$/);
    expect(errors[1]).toMatch(/^spec\.jails\[1\]\.failRegex\[0\]: refused by the agent's regex engine: regex .* cannot run in linear time/);
  });
});

