// Writes crds/*.yaml from the zod schemas in api/ (npm run gen:crds). test/crds.test.ts fails when they drift.
import { mkdirSync, writeFileSync } from "node:fs";
import { crdFiles } from "./crds.js";

const dir = new URL("../crds/", import.meta.url);
mkdirSync(dir, { recursive: true });
for (const [name, text] of crdFiles()) writeFileSync(new URL(name, dir), text);
