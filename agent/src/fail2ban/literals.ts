/**
 * Literals a line must contain for a regex to match it, for the cheap pre-check that spares most
 * lines the date search and the regexes. Pure; works on the translated (JavaScript) source.
 */

type Item = { lit: string } | { alts: Item[][]; required: boolean } | { other: true; required: boolean };

/** Parses a regex source into a sequence (groups as alternatives of sequences), enough to find literals. */
function parse(s: string, at: { i: number }): Item[][] {
  const alts: Item[][] = [[]];
  const push = (x: Item) => (alts[alts.length - 1] as Item[]).push(x);
  const quantified = (): { required: boolean; optionalNext: boolean } => {
    const q = /^(?:[*?]|\{0(?:,\d*)?\}|\+|\{\d+(?:,\d*)?\})\??/.exec(s.slice(at.i));
    if (!q) return { required: true, optionalNext: false };
    at.i += q[0].length;
    return { required: !/^[*?]|^\{0[,}]/.test(q[0]), optionalNext: true };
  };
  while (at.i < s.length) {
    const c = s[at.i] as string;
    if (c === ")") break;
    if (c === "|") {
      at.i++;
      alts.push([]);
      continue;
    }
    if (c === "(") {
      const head = /^\((?:\?(?::|<\w+>))?/.exec(s.slice(at.i)) as RegExpExecArray;
      at.i += head[0].length;
      const inner = parse(s, at);
      at.i++; // ')'
      push({ alts: inner, required: quantified().required });
      continue;
    }
    if (c === "[") {
      let j = at.i + 1;
      if (s[j] === "^") j++;
      if (s[j] === "]") j++;
      for (; j < s.length && s[j] !== "]"; j++) if (s[j] === "\\") j++;
      at.i = j + 1;
      push({ other: true, required: quantified().required });
      continue;
    }
    if (c === "\\") {
      const e = s[at.i + 1] ?? "";
      at.i += 2;
      const plain = /[^\w\s]/.test(e);
      const q = quantified();
      push(plain && !q.optionalNext ? { lit: e } : { other: true, required: q.required });
      continue;
    }
    at.i++;
    if (c === "^" || c === "$") continue;
    const q = quantified();
    push(c !== "." && !q.optionalNext ? { lit: c } : { other: true, required: q.required });
  }
  return alts;
}

/** A set of literals one of which every match of the sequence contains; [] when there is none. */
function ofSequence(seq: Item[]): string[] {
  const candidates: string[][] = [];
  let run = "";
  const cut = () => {
    if (run) candidates.push([run]);
    run = "";
  };
  for (const item of seq) {
    if ("lit" in item) {
      run += item.lit;
      continue;
    }
    cut();
    if ("alts" in item && item.required) {
      const sets = item.alts.map(ofSequence);
      if (sets.every((x) => x.length)) candidates.push([...new Set(sets.flat())]);
    }
  }
  cut();
  const score = (set: string[]) => Math.min(...set.map((x) => x.length)) - set.length / 100;
  return candidates.sort((a, b) => score(b) - score(a))[0] ?? [];
}

/**
 * Literals one of which every match contains ([] when no useful set: an alternative without one,
 * or only literals shorter than 3 characters). The `\\[\\]` where fail2ban cut the time stamp out
 * is a break: the line has the stamp there.
 */
export function requiredLiterals(source: string): string[] {
  const alts = parse(source.replace(/\\\[\\\]/g, "(?:x|y)"), { i: 0 });
  const sets = alts.map(ofSequence);
  if (!sets.every((x) => x.length)) return [];
  const all = [...new Set(sets.flat())];
  return all.every((x) => x.length >= 3) ? all : [];
}
