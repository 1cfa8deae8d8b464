import type { Fail2banFilter } from "./filter-reader.js";
import { translateRegex } from "./regex.js";

/** A regex of a filter that was left out, and why. */
export interface LeftOut {
  what: string;
  why: string;
}

/** A regex as a report shows it: whole, or its first 2000 characters and "…". */
export const shownRegex = (re: string) => (re.length > 2000 ? `${re.slice(0, 2000)}…` : re);

/**
 * The filter with only the regexes fleetwall can run (linear time), and the others with why.
 * `usable` is false when nothing is left to match with (no fail-regex, or the prefregex is out).
 * `import` and `jail test` both use this, so they run the same regexes. Pure.
 */
export function translatableFilter(f: Fail2banFilter): { filter: Fail2banFilter; leftOut: LeftOut[]; usable: boolean } {
  const leftOut: LeftOut[] = [];
  const keep = (kind: string, list: readonly string[]) =>
    list.filter((re) => {
      try {
        translateRegex(re, { multiline: f.maxlines > 1 });
        return true;
      } catch (e) {
        leftOut.push({ what: `${kind} ${shownRegex(re)}`, why: (e as Error).message });
        return false;
      }
    });
  const failregex = keep("failregex", f.failregex);
  const pref = f.prefregex === undefined ? [] : keep("prefregex", [f.prefregex]);
  const ignoreregex = keep("ignoreregex", f.ignoreregex);
  const { prefregex: _drop, ...rest } = f;
  const filter: Fail2banFilter = { ...rest, failregex, ignoreregex, ...(pref[0] !== undefined ? { prefregex: pref[0] } : {}) };
  return { filter, leftOut, usable: failregex.length > 0 && (f.prefregex === undefined || pref.length > 0) };
}
