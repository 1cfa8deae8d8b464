/**
 * The regexes of a jail, compiled as the agent compiles them, for policy validation (the controller,
 * `--check-config`): a regex the agent would refuse (it does not parse, or it cannot run in linear
 * time) makes the policy invalid, with the field that holds it named, instead of a jail that never
 * starts on any host. Pure: it compiles and forgets.
 */

import { isFail2banJail } from "@fleetwall/api/jail-kind";
import { dateTemplates } from "./fail2ban/date.js";
import { translateRegex } from "./fail2ban/regex.js";
import { linear } from "./filters.js";

/** A jail's regex fields (a Jail of the API). */
export interface JailRegexes {
  failRegex?: readonly string[] | undefined;
  prefRegex?: string | undefined;
  ignoreRegex?: readonly string[] | undefined;
  datePattern?: string | undefined;
  maxLines?: number | undefined;
}

/** A refused regex: its path inside the jail (`["failRegex", 1]`) and why. */
export interface RegexIssue {
  path: (string | number)[];
  message: string;
}

/** V8's message without the (expanded, often long) source it quotes: `Invalid regular expression: /…/l: Unterminated group` → `Unterminated group`. */
const reason = (e: unknown): string => (e as Error).message.replace(/Invalid regular expression: \/[\s\S]*\/[a-z]*: /, "");

/** A fail2ban regex with its tags and Python group syntax stubbed: what JavaScript's parser says of the rest. */
function parseError(regex: string): unknown {
  try {
    new RegExp(regex.replace(/<\/?F-[\w-]+\/?>|<[A-Z][\w-]*>/g, "x").replace(/\(\?P</g, "(?<").replace(/\(\?P=(\w+)\)/g, "\\k<$1>").replace(/^\(\?[aiLmsux]+\)/, ""));
    return undefined;
  } catch (e) {
    return e;
  }
}

function issue(path: (string | number)[], compile: () => unknown, regex?: string): RegexIssue[] {
  try {
    compile();
    return [];
  } catch (e) {
    const unparsable = regex === undefined ? undefined : parseError(regex);
    return [{ path, message: unparsable ? `does not parse: ${reason(unparsable)}` : `refused by the agent's regex engine: ${reason(e)}` }];
  }
}

/**
 * Every regex field of the jail that the agent would refuse. A jail with fail2ban's fields is
 * translated as fail2ban's regexes are (./fail2ban/engine.ts); a plain one's fail-regexes must
 * run on V8's linear-time engine (`linear`, ./filters.ts).
 */
export function jailRegexIssues(jail: JailRegexes): RegexIssue[] {
  if (!isFail2banJail(jail)) return (jail.failRegex ?? []).flatMap((re, i) => (re.includes("<HOST>") ? issue(["failRegex", i], () => linear(re), re) : []));
  const multiline = (jail.maxLines ?? 1) > 1;
  const translated = (re: string) => () => translateRegex(re, { multiline });
  const check = (path: (string | number)[], re: string) => issue(path, translated(re), re);
  return [
    ...(jail.prefRegex === undefined ? [] : check(["prefRegex"], jail.prefRegex)),
    ...(jail.failRegex ?? []).flatMap((re, i) => check(["failRegex", i], re)),
    ...(jail.ignoreRegex ?? []).flatMap((re, i) => check(["ignoreRegex", i], re)),
    ...(jail.datePattern === undefined ? [] : issue(["datePattern"], () => dateTemplates(jail.datePattern))),
  ];
}
