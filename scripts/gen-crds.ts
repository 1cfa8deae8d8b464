// Writes crds/*.yaml and the chart's charts/fleetwall/crds/*.yaml from the zod schemas in api/
// (npm run gen:crds). test/crds.test.ts fails when either drifts.
import { mkdirSync, writeFileSync } from "node:fs";
import { crdFiles } from "./crds.js";

for (const where of ["../crds/", "../charts/fleetwall/crds/"]) {
  const dir = new URL(where, import.meta.url);
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of crdFiles()) writeFileSync(new URL(name, dir), text);
}
