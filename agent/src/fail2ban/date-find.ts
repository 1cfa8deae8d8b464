/**
 * Finding a time stamp in a line with fail2ban's date templates (date.ts makes them): the earliest
 * match wins, a template matching at the start of the line first. Pure; every regex is linear.
 */

import type { DateTemplate, FoundDate } from "./date.js";

/** A character of `\w` (ASCII letters, digits, `_`) at `i`; false outside the line. */
function isWord(line: string, i: number): boolean {
  const c = line.charCodeAt(i);
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

/**
 * A template as a line is searched with it: its regex with the stamp as its only group (`span`:
 * a match makes one small array, not every field's string and a groups object), and the template's
 * own regex run again for the fields only when a found stamp's fields are read. Same regex but for
 * its groups' kinds, so the two match the same text.
 */
interface Prepared {
  full: RegExp;
  span: RegExp;
  /** The stamp's group ends the regex: its span follows from its length (else `span` has indices). */
  atEnd: boolean;
  lineBegin: boolean;
  wordBegin: boolean;
  wordEnd: boolean;
  epoch: "s" | "ms" | undefined;
}

/** A regex source with `(?<_date>` its only group (undefined where it has back-references). */
function spanSource(src: string): string | undefined {
  let out = "";
  let inClass = false;
  let found = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i] as string;
    if (c === "\\") {
      // a back-reference needs its group: keep the template's regex as it is
      if (/[1-9k]/.test(src[i + 1] ?? "")) return undefined;
      out += c + (src[i + 1] ?? "");
      i++;
    } else if (inClass) {
      inClass = c !== "]";
      out += c;
    } else if (c === "[") {
      inClass = true;
      out += c;
    } else if (c === "(" && src[i + 1] !== "?") {
      out += "(?:";
    } else if (c === "(" && /^\(\?<\w+>/.test(src.slice(i))) {
      const head = (/^\(\?<\w+>/.exec(src.slice(i)) as RegExpExecArray)[0];
      found ||= head === "(?<_date>";
      out += head === "(?<_date>" ? "(" : "(?:";
      i += head.length - 1;
    } else out += c;
  }
  return found ? out : undefined;
}

function prepare(t: DateTemplate): Prepared {
  const full = t.re;
  const s = spanSource(full.source);
  // the stamp's group is then the only capture: group 1
  const span = s === undefined ? full : new RegExp(s, full.flags);
  return { full, span, atEnd: !full.hasIndices, lineBegin: t.lineBegin, wordBegin: t.wordBegin, wordEnd: t.wordEnd, epoch: t.epoch };
}

/** A found stamp; its fields are parsed when first read (`jail test` never reads them). */
class Found implements FoundDate {
  #groups: Record<string, string | undefined> | undefined;
  constructor(
    readonly start: number,
    readonly end: number,
    private readonly text: string,
    private readonly re: RegExp,
    readonly epoch: "s" | "ms" | undefined,
  ) {}
  get groups(): Record<string, string | undefined> {
    if (!this.#groups) {
      this.re.lastIndex = 0;
      this.#groups = this.re.exec(this.text)?.groups ?? {};
    }
    return this.#groups;
  }
}

function matchOne(t: Prepared, line: string): FoundDate | undefined {
  const re = t.span;
  const named = re === t.full;
  for (let from = 0; from <= line.length; ) {
    const text = from ? line.slice(from) : line;
    re.lastIndex = 0;
    const m = re.exec(text);
    if (!m) return undefined;
    const date = named ? (m.groups?._date ?? m[0]) : (m[1] ?? m[0]);
    // the stamp's group ends the regex (its span follows from its length), or the regex has indices
    const span = t.atEnd ? undefined : named ? m.indices?.groups?._date : m.indices?.[1];
    const end = from + (span ? span[1] : m.index + m[0].length);
    const start = span ? from + span[0] : end - date.length;
    const begins = !t.wordBegin || start === 0 || !isWord(line, start - 1) || !isWord(line, start);
    const ends = !t.wordEnd || end === line.length || !isWord(line, end) || !isWord(line, end - 1);
    // the fields: the template's regex on the same text finds the same match
    if (begins && ends && end > start) return new Found(start, end, text, t.full, t.epoch);
    if (t.lineBegin) return undefined;
    from = start + 1;
  }
  return undefined;
}

/** Finds the time stamp: a template matching at the start of the line wins, else the earliest. */
export function findDate(templates: readonly DateTemplate[], line: string): FoundDate | undefined {
  return dateFinder(templates)(line);
}

/**
 * A stateful findDate: the template that found the last stamp is tried first (a log keeps its
 * format), so a line usually costs one regex; the others run only when it does not match there.
 */
export function dateFinder(templates: readonly DateTemplate[]): (line: string) => FoundDate | undefined {
  // prepared when first tried: most of fail2ban's default templates never are
  const prepared: (Prepared | undefined)[] = templates.map(() => undefined);
  const at = (i: number) => (prepared[i] ??= prepare(templates[i] as DateTemplate));
  let last: Prepared | undefined;
  return (line) => {
    if (last) {
      const m = matchOne(last, line);
      if (m && (m.start === 0 || last.lineBegin)) return m;
    }
    let best: FoundDate | undefined;
    let bestT: Prepared | undefined;
    for (let i = 0; i < templates.length; i++) {
      const t = at(i);
      const m = matchOne(t, line);
      if (!m) continue;
      if (m.start === 0 || t.lineBegin) {
        last = t;
        return m;
      }
      if (!best || m.start < best.start) [best, bestT] = [m, t];
    }
    last = bestT ?? last;
    return best;
  };
}
