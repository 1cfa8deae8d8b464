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

function issue(path: (string | number)[], compile: () => unknown): RegexIssue[] {
  try {
    compile();
    return [];
  } catch (e) {
    return [{ path, message: `refused by the agent's regex engine: ${(e as Error).message}` }];
  }
}

/**
 * Every regex field of the jail that the agent would refuse. A jail with fail2ban's fields is
 * translated as fail2ban's regexes are (./fail2ban/engine.ts); a plain one's fail-regexes must
 * run on V8's linear-time engine (`linear`, ./filters.ts).
 */
export function jailRegexIssues(jail: JailRegexes): RegexIssue[] {
  if (!isFail2banJail(jail)) return (jail.failRegex ?? []).flatMap((re, i) => (re.includes("<HOST>") ? issue(["failRegex", i], () => linear(re)) : []));
  const multiline = (jail.maxLines ?? 1) > 1;
  const translated = (re: string) => () => translateRegex(re, { multiline });
  return [
    ...(jail.prefRegex === undefined ? [] : issue(["prefRegex"], translated(jail.prefRegex))),
    ...(jail.failRegex ?? []).flatMap((re, i) => issue(["failRegex", i], translated(re))),
    ...(jail.ignoreRegex ?? []).flatMap((re, i) => issue(["ignoreRegex", i], translated(re))),
    ...(jail.datePattern === undefined ? [] : issue(["datePattern"], () => dateTemplates(jail.datePattern))),
  ];
}
