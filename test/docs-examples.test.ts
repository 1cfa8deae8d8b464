// Every ```yaml block in README.md and docs/*.md, and every file in examples/, is a complete resource
// that the controller's own manifest parser and schemas accept: a reader can copy any of them as is.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseManifestText } from "../controller/src/manifests.js";
import { REPO } from "./harness/fleet.js";

const YAML_BLOCK = /^```yaml\n([\s\S]*?)^```/gm;

function yamlBlocks(file: string): { where: string; text: string }[] {
  const text = readFileSync(join(REPO, file), "utf8");
  return [...text.matchAll(YAML_BLOCK)].map((m) => ({ where: `${file}:${text.slice(0, m.index).split("\n").length}`, text: m[1] ?? "" }));
}

const docs = ["README.md", ...readdirSync(join(REPO, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
const blocks = docs.flatMap(yamlBlocks);
const examples = readdirSync(join(REPO, "examples")).filter((f) => /\.ya?ml$/.test(f)).map((f) => ({ where: `examples/${f}`, text: readFileSync(join(REPO, "examples", f), "utf8") }));

describe("documentation examples", () => {
  it("finds the README's blocks (a policy, a jail policy, a BanList)", () => expect(blocks.filter((b) => b.where.startsWith("README.md")).length).toBeGreaterThanOrEqual(3));

  it.each([...blocks, ...examples].map((b) => [b.where, b.text] as const))("%s parses with the real schema", (where, text) => {
    const parsed = parseManifestText(where, text);
    expect(parsed.errors).toEqual([]);
    expect(parsed.resources.length).toBeGreaterThan(0);
  });

  it("the check can fail: a per-entry hostSelector and an address field are refused", () => {
    const bad = "apiVersion: fleetwall.io/v1alpha1\nkind: BanList\nmetadata: {name: x}\nspec:\n  entries:\n    - address: 203.0.113.7\n      hostSelector: {}\n";
    expect(parseManifestText("bad.yaml", bad).errors.flatMap((e) => e.errors).join("\n")).toMatch(/hostSelector/);
  });
});

describe("the README's NATS set-up", () => {
  it("includes the accounts block by a path relative to the config, which nats-server -t accepts", () => {
    const readme = readFileSync(join(REPO, "README.md"), "utf8");
    const line = /^printf '(include [^\\']+)\\n' > (\S+)$/m.exec(readme);
    expect(line?.[1]).toBe("include fleetwall-auth.conf");
    const dir = mkdtempSync(join(tmpdir(), "fw-readme-nats-"));
    try {
      copyFileSync(join(REPO, "deploy/nats/fleetwall-auth.conf"), join(dir, "fleetwall-auth.conf"));
      writeFileSync(join(dir, "nats-server.conf"), `${line?.[1]}\n`);
      const ok = spawnSync("nats-server", ["-t", "-c", join(dir, "nats-server.conf")], { encoding: "utf8" });
      expect(ok.status, ok.stderr).toBe(0);
      // what the README said before: an absolute include, which nats-server 2.9 reads relative to the config
      writeFileSync(join(dir, "abs.conf"), `include ${join(dir, "fleetwall-auth.conf")}\n`);
      expect(spawnSync("nats-server", ["-t", "-c", join(dir, "abs.conf")], { encoding: "utf8", cwd: "/" }).status).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
