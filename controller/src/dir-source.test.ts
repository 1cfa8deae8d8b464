import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DirSource } from "./dir-source.js";
import type { PolicySet } from "./manifests.js";
import { policyYaml } from "../../test/harness/policy-yaml.js";

const doc = policyYaml;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function source(): { dir: string; src: DirSource; sets: PolicySet[] } {
  const dir = mkdtempSync(join(tmpdir(), "fleetwall-dirsource-"));
  dirs.push(dir);
  const sets: PolicySet[] = [];
  const src = new DirSource({ dir, rescanMs: 60_000, debounceMs: 10, onChange: (s) => sets.push(s), onError: () => undefined });
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
});
