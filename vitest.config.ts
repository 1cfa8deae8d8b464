import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const file = (path: string) => fileURLToPath(new URL(`./${path}`, import.meta.url));
const src = (w: string) => fileURLToPath(new URL(`./${w}/src/index.ts`, import.meta.url));

export default defineConfig({
  // Tests run against the sources; the spawned agents and controller run the built dist/.
  resolve: { alias: { "@fleetwall/api/cidr": file("api/src/cidr.ts"), "@fleetwall/api/jail-kind": file("api/src/jail-kind.ts"), "@fleetwall/api/version": file("api/src/version.ts"), "@fleetwall/api": src("api"), "@fleetwall/runtime/config": file("runtime/src/config-fields.ts"), "@fleetwall/runtime": src("runtime"), "@fleetwall/controller/config": file("controller/src/config.ts"), "@fleetwall/controller/main": file("controller/src/main.ts"), "@fleetwall/agent/config": file("agent/src/config.ts"), "@fleetwall/agent/main": file("agent/src/main.ts"), "@fleetwall/controller/kube": fileURLToPath(new URL("./controller/src/kube.ts", import.meta.url)), "@fleetwall/controller": src("controller"), "@fleetwall/agent/jail-check": file("agent/src/jail-regex-check.ts"), "@fleetwall/agent/filters": fileURLToPath(new URL("./agent/src/filters.ts", import.meta.url)), "@fleetwall/agent/fail2ban/filter-file": file("agent/src/fail2ban/filter-file.ts"), "@fleetwall/agent/fail2ban": file("agent/src/fail2ban/index.ts"), "@fleetwall/agent": src("agent") } },
  test: {
    include: ["**/src/**/*.test.ts", "test/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: "forks",
    // jails compile their regexes with V8's linear-time engine, as the fleetwall binary enables it
    execArgv: ["--enable-experimental-regexp-engine", "--enable-experimental-regexp-engine-on-excessive-backtracks", "--regexp-backtracks-before-fallback=5000"],
    // Integration files each build a fleet of namespaces and processes; two at a time fits two cores.
    maxWorkers: 2,
  },
});
