import type { z } from "zod";

// The schemas live with the process they configure; the CLI parses flags into them and hands the
// frozen result to the process's entry point (controller/src/main.ts, agent/src/main.ts).
export { ControllerConfig } from "@fleetwall/controller/config";
export { AgentConfig, splitSources } from "@fleetwall/agent/config";

/** Parses raw options into one frozen config object, or throws a ConfigError naming each flag. */
export function parseConfig<S extends z.ZodType>(schema: S, raw: unknown): Readonly<z.infer<S>> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    throw new ConfigError(r.error.issues.map((i) => `--${i.path.map(String).map(kebab).join(".")}: ${i.message}`).join("\n"));
  }
  return Object.freeze(r.data);
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
