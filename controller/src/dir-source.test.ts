import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DirSource } from "./dir-source.js";
import type { Resource } from "@fleetwall/api";
import type { PolicySet } from "./manifests.js";
import { policyYaml } from "../../test/harness/policy-yaml.js";

const doc = policyYaml;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function source(initial: Resource[] = [], at?: string): { dir: string; src: DirSource; sets: PolicySet[] } {
  const dir = at ?? mkdtempSync(join(tmpdir(), "fleetwall-dirsource-"));
  if (!at) dirs.push(dir);
  const sets: PolicySet[] = [];
  const src = new DirSource({ dir, rescanMs: 60_000, debounceMs: 10, initial, onChange: (s) => sets.push(s), onError: () => undefined });
  return { dir, src, sets };
}
const ports = (set: PolicySet | undefined) => Object.fromEntries((set?.policies ?? []).map((p) => [p.metadata.name, p.spec.ingress[0]?.ports]));

describe("DirSource", () => {
  it("sees every edit, including one that keeps the size and puts the modification time back", async () => {
    const { dir, src, sets } = source();
    writeFileSync(join(dir, "a.yaml"), doc("a", 2201));
    writeFileSync(join(dir, "b.yaml"), doc("b", 8080));
    await src.scan();
    expect(ports(sets.at(-1))).toEqual({ a: [2201], b: [8080] });
    const before = statSync(join(dir, "a.yaml"));
    writeFileSync(join(dir, "a.yaml"), doc("a", 2202)); // same length
    utimesSync(join(dir, "a.yaml"), before.atime, before.mtime);
    await src.scan();
    expect(ports(sets.at(-1))).toEqual({ a: [2202], b: [8080] });
    rmSync(join(dir, "b.yaml"));
    writeFileSync(join(dir, "c.yaml"), doc("c", 9090));
    await src.scan();
    expect(ports(sets.at(-1))).toEqual({ a: [2202], c: [9090] });
    // nothing changed: nothing reported
    const reported = sets.length;
    await src.scan();
    await src.scan(true);
    expect(sets).toHaveLength(reported);
  });

  it("a new process given the versions in force (the last-good bucket) keeps them: invalid edits and duplicates change nothing", async () => {
    const first = source();
    writeFileSync(join(first.dir, "web.yaml"), doc("web", 22));
    await first.src.scan();
    const inForce = [...(first.sets.at(-1)?.policies ?? [])];
    // while no controller runs: the file becomes invalid, and a newcomer that sorts first defines the name
    writeFileSync(join(first.dir, "web.yaml"), doc("web", 70000));
    writeFileSync(join(first.dir, "a-web.yaml"), doc("web", 80));
    const restarted = source(inForce, first.dir);
    await restarted.src.scan();
    expect(ports(restarted.sets.at(-1))).toEqual({ web: [22] });
    expect(restarted.sets.at(-1)?.errors.map((e) => e.file).sort()).toEqual(["a-web.yaml", "web.yaml"]);
    // without them (the old behaviour) the newcomer took over
    const forgetful = source([], first.dir);
    await forgetful.src.scan();
    expect(ports(forgetful.sets.at(-1))).toEqual({ web: [80] });
  });

  it("reports nothing once stopped, so a scan cut short does not look like files removed", async () => {
    const { dir, src, sets } = source();
    writeFileSync(join(dir, "a.yaml"), doc("a", 2201));
    await src.scan();
    expect(sets).toHaveLength(1);
    writeFileSync(join(dir, "b.yaml"), doc("b", 8080));
    src.stop();
    await src.scan();
    expect(sets).toHaveLength(1);
  });
});
