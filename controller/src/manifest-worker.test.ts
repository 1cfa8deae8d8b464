import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ManifestParser, ManifestParserClosed } from "./manifest-worker.js";
import { parseManifestText } from "./manifests.js";

// The worker runs built JavaScript (the bundle's chunk in production): here the tsc output of this
// module, which `npx tsc -b cli` (and scripts/setup.sh) makes.
const built = new URL("../dist/manifest-worker.js", import.meta.url);

function bigManifest(n: number, bad = false): string {
  const sources = Array.from({ length: n }, (_, i) => `        - 2001:db8:${i.toString(16)}:1::/64`).join("\n");
  return `apiVersion: fleetwall.io/v1alpha1\nkind: FirewallPolicy\nmetadata: {name: big}\nspec:\n  hostSelector: {}\n  ingress:\n    - name: many\n      action: Allow\n      protocol: tcp\n      ports: [${bad ? 70000 : 443}]\n      sources:\n${sources}\n`;
}

describe.skipIf(!existsSync(built))("ManifestParser", () => {
  it("parses a large file in a worker thread, to what parsing it here gives, errors included", async () => {
    const parser = new ManifestParser(built);
    try {
      for (const bad of [false, true]) {
        const text = bigManifest(10_000, bad);
        expect(text.length).toBeGreaterThan(256 * 1024);
        expect(await parser.parse("big.yaml", text)).toEqual(parseManifestText("big.yaml", text));
      }
      expect(parser.offloaded).toBe(2);
    } finally {
      parser.stop();
    }
  });

  it("parses small files, and any file where the module cannot run in a worker, inline", async () => {
    const parser = new ManifestParser(new URL(import.meta.url));
    expect(parser.canOffload).toBe(false);
    await parser.parse("big.yaml", bigManifest(10_000));
    const builtParser = new ManifestParser(built);
    await builtParser.parse("small.yaml", bigManifest(10));
    expect([parser.offloaded, builtParser.offloaded]).toEqual([0, 0]);
  });

  it("parses here when the worker dies, rather than lose the file", async () => {
    const parser = new ManifestParser(built);
    const text = bigManifest(10_000);
    const pending = parser.parse("big.yaml", text);
    parser.stop();
    expect(await pending).toEqual(parseManifestText("big.yaml", text));
  });

  it("when closed (the process stopping), refuses a parse still waiting rather than do it here, and any after", async () => {
    const parser = new ManifestParser(built);
    const pending = parser.parse("big.yaml", bigManifest(10_000));
    parser.close();
    // parsing 5 MB here held a stopping controller for 10 s on a loaded machine
    await expect(pending).rejects.toBeInstanceOf(ManifestParserClosed);
    await expect(parser.parse("small.yaml", bigManifest(10))).rejects.toBeInstanceOf(ManifestParserClosed);
  });
});
