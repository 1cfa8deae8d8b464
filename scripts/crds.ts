import { stringify } from "yaml";
import { customResourceDefinitions } from "../api/src/index.js";

/** crds/<plural>.fleetwall.io.yaml → its text, as scripts/gen-crds.ts writes it. */
export function crdFiles(): Map<string, string> {
  return new Map(
    customResourceDefinitions().map((crd) => [
      `${(crd.metadata as { name: string }).name}.yaml`,
      `# Generated from the zod schemas in api/ by scripts/gen-crds.ts; do not edit.\n${stringify(crd, { lineWidth: 0 })}`,
    ]),
  );
}
