import { readFile } from "node:fs/promises";
import { canonicalizer, compileFinder } from "@fleetwall/agent/filters";

export interface JailTestResult {
  lines: number;
  matched: number;
  /** `address: false` marks a host name: found, as fail2ban finds it, but never banned. */
  matches: { line: number; host: string; address?: false }[];
}

/** Runs a filter over a log file offline, like fail2ban-regex. */
export async function jailTest(file: string, filter: string | undefined, failRegex: string[]): Promise<JailTestResult> {
  const find = compileFinder(filter, failRegex);
  const canonical = canonicalizer();
  const text = await readFile(file, "utf8");
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const matches: JailTestResult["matches"] = [];
  lines.forEach((l, i) => {
    const found = find(l);
    if (found === undefined) return;
    const host = canonical(found);
    matches.push(host ? { line: i + 1, host } : { line: i + 1, host: found, address: false });
  });
  return { lines: lines.length, matched: matches.length, matches };
}
