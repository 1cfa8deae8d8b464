// Bundles the fleetwall CLI, with the workspaces' built dist/ and every runtime dependency, into
// dist/fleetwall.mjs and its chunks: the one program that ships (image, systemd) and that the fleet
// tests run. Each command's code is a chunk of its own, loaded when the command runs, so an agent
// never loads the controller's Kubernetes client. Why: docs/packaging.md.
// Run after `tsc -b cli` (scripts/setup.sh does both).
import { chmodSync, rmSync } from "node:fs";
import { build } from "esbuild";

const outdir = new URL("../dist/", import.meta.url).pathname;
// chunk names carry content hashes: chunks of an earlier build would otherwise stay beside the new
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { fleetwall: new URL("../cli/dist/main.js", import.meta.url).pathname },
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  splitting: true,
  outdir,
  outExtension: { ".js": ".mjs" },
  chunkNames: "chunks/[name]-[hash]",
  // whitespace and syntax only: identifiers keep their names, so stack traces and logs stay readable
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: "linked",
  // the CommonJS dependencies (pino, commander, prom-client) call require() for Node's own modules
  banner: { js: "import { createRequire as __fleetwallCreateRequire } from 'node:module'; const require = __fleetwallCreateRequire(import.meta.url);" },
  logLevel: "warning",
});
chmodSync(`${outdir}fleetwall.mjs`, 0o755);
