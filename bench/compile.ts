// Benchmark 5 (first half): the controller's pure compile for 1,000 and 10,000 hosts with 200
// policies (each selecting a slice of the fleet by label), plus the publish plan. No I/O.
// Each run compiles freshly parsed policies, so nothing is reused from an earlier run. Two fleets:
// hosts labelled by team and zone only (60 label sets, which hosts share a selection by), and every
// host also carrying a label of its own (a hostname label: nothing to share by labels).
// Run: npx tsx bench/compile.ts
import { FirewallPolicy } from "../api/src/index.js";
import { compile, planPublish, type HostInfo } from "../controller/src/index.js";
import { fleetLabels, fleetPolicy } from "./fleet-policies.js";
import { median, record } from "./lib.js";

const RUNS = 5;
const freshPolicies = () => Array.from({ length: 200 }, (_, i) => FirewallPolicy.parse(fleetPolicy(i)));
const fleets = {
  "team and zone": (i: number) => fleetLabels(i),
  "team, zone and its own hostname": (i: number) => ({ ...fleetLabels(i), "kubernetes.io/hostname": `h${i}` }),
};

const rows: string[][] = [];
const verdicts: string[] = [];
for (const [shape, labels] of Object.entries(fleets)) {
  for (const n of [1_000, 10_000]) {
    const hs: HostInfo[] = Array.from({ length: n }, (_, i) => ({ id: `h${i}`, labels: labels(i) }));
    const sets = Array.from({ length: RUNS + 1 }, freshPolicies);
    const ms: number[] = [];
    let result = compile(sets[RUNS] as FirewallPolicy[], hs); // warms the code, not the data
    for (let r = 0; r < RUNS; r += 1) {
      const t = performance.now();
      result = compile(sets[r] as FirewallPolicy[], hs);
      ms.push(performance.now() - t);
    }
    const planMs: number[] = [];
    for (let r = 0; r < RUNS; r += 1) {
      const t = performance.now();
      planPublish(result.hosts, new Map());
      planMs.push(performance.now() - t);
    }
    const perHost = [...result.hosts.values()].reduce((a, h) => a + h.ruleset.policies.length, 0) / n;
    rows.push([n.toLocaleString("en"), shape, `${median(ms).toFixed(0)} ms (${Math.min(...ms).toFixed(0)}–${Math.max(...ms).toFixed(0)})`, `${median(planMs).toFixed(0)} ms`, perHost.toFixed(0)]);
    if (n === 10_000) verdicts.push(`10,000 hosts (${shape}) compiled in ${median(ms).toFixed(0)} ms`);
  }
}
const worst = Math.max(...rows.filter((r) => r[0] === "10,000").map((r) => Number.parseFloat(r[2] as string)));
record("compile", {
  title: "Controller: compile for the whole fleet, 200 policies",
  command: "npx tsx bench/compile.ts",
  header: ["hosts", "labels", `compile, median (min–max), ${RUNS} runs`, "publish plan", "policies per host"],
  rows,
  verdict: `${verdicts.join("; ")} (target ≤ 2,000 ms, ${worst <= 2000 ? "met" : "missed"}); a change applied fleet-wide: see bench/change.ts`,
});
