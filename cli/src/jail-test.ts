import { readFile } from "node:fs/promises";
import { compileFilter } from "@fleetwall/agent/filters";

export interface JailTestResult {
  lines: number;
  matched: number;
  matches: { line: number; host: string }[];
}

/** Runs a filter over a log file offline, like fail2ban-regex. */
export async function jailTest(file: string, filter: string | undefined, failRegex: string[]): Promise<JailTestResult> {
  const match = compileFilter(filter, failRegex);
  const text = await readFile(file, "utf8");
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const matches: JailTestResult["matches"] = [];
  lines.forEach((l, i) => {
    const host = match(l);
    if (host) matches.push({ line: i + 1, host });
  });
  return { lines: lines.length, matched: matches.length, matches };
}
