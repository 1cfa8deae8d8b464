import { execFileSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
}

/** User plus system CPU time of a process so far, in seconds (Linux /proc, 100 ticks a second). */
export function cpuSeconds(pid: number | undefined): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export function timed<T>(runs: number, fn: () => T): { ms: number[]; result: T } {
  const ms: number[] = [];
  let result!: T;
  for (let i = 0; i < runs; i += 1) {
    const t = performance.now();
    result = fn();
    ms.push(performance.now() - t);
  }
  return { ms, result };
}

export async function timedAsync<T>(runs: number, fn: () => Promise<T>): Promise<{ ms: number[]; result: T }> {
  const ms: number[] = [];
  let result!: T;
  for (let i = 0; i < runs; i += 1) {
    const t = performance.now();
    result = await fn();
    ms.push(performance.now() - t);
  }
  return { ms, result };
}

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { stdio: ["ignore", "pipe", "pipe"] }).toString().split("\n")[0]?.trim() ?? "?";
  } catch {
    return "not installed";
  }
}

export function machine(): string {
  return [
    `${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB`,
    `node ${process.version}; ${version("nft", ["--version"])}; nats-server ${version("nats-server", ["--version"])}; ${version("fail2ban-regex", ["--version"])}`,
  ].join("; ");
}

interface Section {
  title: string;
  command: string;
  header: string[];
  rows: string[][];
  verdict: string;
}

/** Writes one benchmark's section into bench/RESULTS.md, replacing its previous one. */
export function record(id: string, section: Section): void {
  const file = new URL("./RESULTS.md", import.meta.url);
  const head = "# fleetwall benchmark results\n\nEach section is rewritten by its benchmark when it runs (scripts and their knobs: bench/README.md); the numbers are from the machine it names.\n";
  const text = existsSync(file) ? readFileSync(file, "utf8") : head;
  const body = [
    `<!-- ${id} -->`,
    `## ${section.title}`,
    "",
    `Measured ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on ${machine()}.`,
    `Command: \`${section.command}\``,
    "",
    `| ${section.header.join(" | ")} |`,
    `|${section.header.map(() => "---").join("|")}|`,
    ...section.rows.map((r) => `| ${r.join(" | ")} |`),
    "",
    `**${section.verdict}**`,
    `<!-- /${id} -->`,
  ].join("\n");
  const re = new RegExp(`<!-- ${id} -->[\\s\\S]*?<!-- /${id} -->`);
  // a new section goes before the hand-written notes on missed targets, which stay last
  const notes = text.indexOf("<!-- notes -->");
  const added = notes >= 0 ? `${text.slice(0, notes)}${body}\n\n${text.slice(notes)}` : `${text.trimEnd()}\n\n${body}\n`;
  writeFileSync(file, re.test(text) ? text.replace(re, body) : added);
  process.stdout.write(`${body}\n`);
}
