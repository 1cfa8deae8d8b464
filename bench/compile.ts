// Benchmark 5 (first half): the controller's pure compile for 1,000 and 10,000 hosts with 200
// policies (each selecting a slice of the fleet by label), plus the publish plan. No I/O.
// Run: npx tsx bench/compile.ts
import { FirewallPolicy } from "../api/src/index.js";
import { compile, planPublish, type HostInfo } from "../controller/src/index.js";
import { fleetLabels, fleetPolicy } from "./fleet-policies.js";
import { median, record, timed } from "./lib.js";

const policies = Array.from({ length: 200 }, (_, i) => FirewallPolicy.parse(fleetPolicy(i)));
const hosts = (n: number): HostInfo[] => Array.from({ length: n }, (_, i) => ({ id: `h${i}`, labels: fleetLabels(i) }));

const rows: string[][] = [];
const verdicts: string[] = [];
for (const n of [1_000, 10_000]) {
  const hs = hosts(n);
  const { ms, result } = timed(5, () => compile(policies, hs));
  const plan = timed(5, () => planPublish(result.hosts, new Map()));
  const perHost = [...result.hosts.values()].reduce((a, h) => a + h.ruleset.policies.length, 0) / n;
  rows.push([n.toLocaleString("en"), `${median(ms).toFixed(0)} ms (${Math.min(...ms).toFixed(0)}–${Math.max(...ms).toFixed(0)})`, `${median(plan.ms).toFixed(0)} ms`, perHost.toFixed(0)]);
  if (n === 10_000) verdicts.push(`10,000 hosts compiled in ${median(ms).toFixed(0)} ms (target ≤ 2,000 ms, ${median(ms) <= 2000 ? "met" : "missed"})`);
}
record("compile", {
  title: "Controller: compile for the whole fleet, 200 policies",
  command: "npx tsx bench/compile.ts",
  header: ["hosts", "compile, median (min–max), 5 runs", "publish plan", "policies per host"],
  rows,
  verdict: `${verdicts.join("; ")}; a change applied fleet-wide: see bench/change.ts`,
});
