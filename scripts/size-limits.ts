// Lists the source files over 300 lines and the functions over 60 lines in the workspaces' src/
// (tests excluded): the size limits of docs/STYLE (issue #19). Exits 1 when any is over.
// Run: npx tsx scripts/size-limits.ts [--max-file 300] [--max-function 60] [dir ...]
import { readFileSync, readdirSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import ts from "typescript";

const ROOT = resolve(import.meta.dirname, "..");
const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const [value] = args.splice(i, 2).slice(1);
  return Number(value);
};
const MAX_FILE = flag("--max-file", 300);
const MAX_FUNCTION = flag("--max-function", 60);
const dirs = args.length ? args : ["api/src", "runtime/src", "controller/src", "agent/src", "cli/src"];

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") && !e.name.endsWith(".d.ts"))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

interface Over {
  file: string;
  line: number;
  name: string;
  lines: number;
}

/** A readable name for a function node: its own, or the variable, property or call it is part of. */
function nameOf(node: ts.Node, file: ts.SourceFile): string {
  const named = node as { name?: ts.Node };
  if (named.name) return named.name.getText(file);
  if (ts.isConstructorDeclaration(node)) return "constructor";
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) return parent.name.getText(file);
  if (ts.isCallExpression(parent)) return `(callback of ${parent.expression.getText(file).slice(0, 40)})`;
  return "(anonymous)";
}

function functionsOver(path: string, text: string): Over[] {
  const file = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const out: Over[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && (node as { body?: ts.Node }).body) {
      const start = file.getLineAndCharacterOfPosition(node.getStart(file)).line;
      const end = file.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = end - start + 1;
      if (lines > MAX_FUNCTION) out.push({ file: relative(ROOT, path), line: start + 1, name: nameOf(node, file), lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return out;
}

const files: { file: string; lines: number }[] = [];
const functions: Over[] = [];
for (const dir of dirs) {
  for (const path of sources(dir)) {
    const text = readFileSync(path, "utf8");
    const lines = text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
    if (lines > MAX_FILE) files.push({ file: relative(ROOT, path), lines });
    functions.push(...functionsOver(path, text));
  }
}
for (const f of files) process.stdout.write(`file over ${MAX_FILE} lines: ${f.file} (${f.lines})\n`);
for (const f of functions) process.stdout.write(`function over ${MAX_FUNCTION} lines: ${f.file}:${f.line} ${f.name} (${f.lines})\n`);
if (files.length === 0 && functions.length === 0) process.stdout.write(`no file over ${MAX_FILE} lines, no function over ${MAX_FUNCTION} lines in ${dirs.join(", ")}\n`);
process.exitCode = files.length + functions.length > 0 ? 1 : 0;
