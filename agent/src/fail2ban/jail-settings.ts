import type { ImportNote } from "./jail-reader.js";

/** fail2ban's time: seconds (`600`), or with units (`10m`, `1h`, `1d`, `1w`, `1mo`, `1y`, combined). */
export function fail2banSeconds(text: string): number | undefined {
  const t = text.trim().toLowerCase().replace(/\s+/g, "");
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  const units: Record<string, number> = { s: 1, sec: 1, m: 60, min: 60, h: 3600, hour: 3600, d: 86400, day: 86400, w: 604800, week: 604800, mo: 2592000, y: 31536000 };
  let total = 0;
  let rest = t;
  for (let m = /^(\d+(?:\.\d+)?)([a-z]+)/.exec(rest); m; m = /^(\d+(?:\.\d+)?)([a-z]+)/.exec(rest)) {
    const u = units[(m[2] as string).replace(/s$/, "")] ?? units[m[2] as string];
    if (u === undefined) return undefined;
    total += Number(m[1]) * u;
    rest = rest.slice(m[0].length);
  }
  return rest === "" && total > 0 ? total : undefined;
}

export const duration = (s: number) => (s % 86400 === 0 ? `${s / 86400}d` : s % 3600 === 0 ? `${s / 3600}h` : s % 60 === 0 ? `${s / 60}m` : `${Math.round(s)}s`);

/**
 * fail2ban's ban times with bantime.increment and the default formula
 * `ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor`: the first ban (no earlier ban
 * counted) lasts bantime, the n-th repeat bantime·factor·2^n, never more than bantime.maxtime.
 */
export function fail2banBanTimes(banTime: number, factor: number, maxTime: number | undefined, count: number): number[] {
  return Array.from({ length: count }, (_, n) => {
    const t = n === 0 ? banTime : banTime * 2 ** Math.min(n, 20) * factor;
    return maxTime === undefined ? t : Math.min(t, maxTime);
  });
}

/** fleetwall's ban times for the same offences: banTime·factor^(n), capped at max (api escalatedSeconds). */
export function fleetwallBanTimes(banTime: number, factor: number, max: number, count: number): number[] {
  return Array.from({ length: count }, (_, n) => Math.max(banTime, Math.min(max, banTime * factor ** n)));
}

/** The longest ban fleetwall takes when fail2ban sets no bantime.maxtime. */
const DEFAULT_MAX = 7 * 86400;

type Get = (o: string) => string | undefined;
type Timing = { maxRetry: number; findTime: string; banTime: string; banTimeIncrement?: { factor: number; max: string } };

/** maxretry, findtime, bantime and bantime.increment in fleetwall's form; what differs goes to notes. */
export function timing(section: string, get: Get, notes: ImportNote[]): Timing {
  const secs = (o: string, fallback: number) => {
    const v = get(o);
    const s = v === undefined ? fallback : fail2banSeconds(v);
    if (s === undefined || s <= 0) {
      notes.push({ kind: "converted", jail: section, what: `${o} ${v}`, why: s !== undefined && s < 0 ? "a permanent ban: fleetwall bans for at most its maximum; 4w used" : `not a time; ${duration(fallback)} used` });
      return s !== undefined && s < 0 ? 28 * 86400 : fallback;
    }
    return s;
  };
  const maxRetry = Math.min(1000, Math.max(1, Number(get("maxretry") ?? "5") || 5));
  const banTime = secs("bantime", 600);
  const out: Timing = { maxRetry, findTime: duration(secs("findtime", 600)), banTime: duration(banTime) };
  if (truthy(get("bantime.increment"))) out.banTimeIncrement = increment(section, get, banTime, notes);
  return out;
}

const truthy = (v: string | undefined) => /^(true|yes|on|1)$/i.test((v ?? "").trim());

/**
 * fail2ban doubles each repeat (×2 per earlier ban) and multiplies every repeat by bantime.factor;
 * fleetwall multiplies each repeat by its factor. factor 2 gives fail2ban's sequence exactly when
 * bantime.factor is 1 (T, 2T, 4T, …); with another bantime.factor f every repeat is f times what
 * fleetwall bans, which the note spells out with the first five ban times of each.
 */
function increment(section: string, get: Get, banTime: number, notes: ImportNote[]): { factor: number; max: string } {
  const rawMax = get("bantime.maxtime");
  const maxTime = rawMax ? fail2banSeconds(rawMax) : undefined;
  const max = maxTime ?? DEFAULT_MAX;
  if (!rawMax?.trim()) notes.push({ kind: "converted", jail: section, what: "bantime.maxtime (unset)", why: `fail2ban's bans grow up to 2^20 × bantime; fleetwall needs a longest ban: ${duration(DEFAULT_MAX)} used` });
  else if (maxTime === undefined) notes.push({ kind: "converted", jail: section, what: `bantime.maxtime ${rawMax}`, why: `not a time; ${duration(DEFAULT_MAX)} used` });
  const f = Number(get("bantime.factor") ?? "1");
  const factor = Number.isFinite(f) && f > 0 ? f : 1;
  const formula = (get("bantime.formula") ?? "").trim();
  const multipliers = (get("bantime.multipliers") ?? "").trim();
  if (multipliers) notes.push({ kind: "converted", jail: section, what: `bantime.multipliers ${multipliers}`, why: "fleetwall escalates by a constant factor: 2 (fail2ban's default formula) used" });
  else if (formula && formula.replace(/\s+/g, "") !== "ban.Time*(1<<(ban.Countifban.Count<20else20))*banFactor") notes.push({ kind: "converted", jail: section, what: `bantime.formula ${formula}`, why: "fleetwall escalates by a constant factor: 2 (fail2ban's default formula) used" });
  else if (factor !== 1) {
    const show = (ts: number[]) => ts.map(duration).join(", ");
    const theirs = fail2banBanTimes(banTime, factor, max, 5);
    const ours = fleetwallBanTimes(banTime, 2, max, 5);
    notes.push({ kind: "note", jail: section, what: `bantime.factor ${factor}`, why: `fleetwall's factor is the ratio of one ban to the previous: 2 used (fail2ban's doubling); fail2ban bans ${show(theirs)}, fleetwall ${show(ours)}: every repeat is ${factor}× shorter (raise banTime to ${duration(banTime * factor)} for longer repeats and a longer first ban)` });
  }
  notes.push({ kind: "note", jail: section, what: "bantime.increment", why: "fail2ban also counts each failure of an address it banned before as 2^n/2+1 failures (n earlier bans), banning it again sooner; fleetwall counts every failure once" });
  return { factor: 2, max: duration(max) };
}

/** A setting fleetwall does not take over: when its value changes what fail2ban does, and why. */
interface Unread {
  key: string;
  /** true when the value changes nothing (fail2ban's neutral value, or what fleetwall does anyway). */
  neutral: (v: string) => boolean;
  why: string;
}

const empty = (v: string) => v.trim() === "" || v.trim() === "0";
const UNREAD: readonly Unread[] = [
  { key: "bantime.rndtime", neutral: empty, why: "fail2ban adds up to this many random seconds to each ban; fleetwall adds none" },
  { key: "bantime.overalljails", neutral: (v) => !truthy(v), why: "fail2ban counts earlier bans of every jail; fleetwall counts a jail's own repeat offences" },
  { key: "usedns", neutral: (v) => /^(no|raw)$/i.test(v.trim()), why: "fleetwall never resolves a host name found in a log line: such a line is listed by `jail test` but bans no one" },
  { key: "ignoreself", neutral: truthy, why: "fleetwall never bans a registered host's own addresses, whatever this says" },
  { key: "ignorecommand", neutral: empty, why: "fleetwall runs no command to decide whether to ignore an address; add those addresses to the jail's ignore" },
  { key: "logencoding", neutral: (v) => /^(auto|utf-?8|ascii)$/i.test(v.trim()), why: "fleetwall reads logs as UTF-8" },
  { key: "logtimezone", neutral: empty, why: "fleetwall reads log times in the agent's time zone" },
];

/**
 * The settings of the imported jails that fleetwall does not take over and that change what fail2ban
 * does, one note per setting and value (naming every jail that has it, so [DEFAULT] values are told
 * once). Also fail2ban's ban actions: their port lists and extra actions (mail, reports).
 */
export function unreadSettings(jails: readonly { section: string; get: Get }[]): ImportNote[] {
  const groups = new Map<string, { jails: string[]; what: string; why: string }>();
  const add = (jail: string, what: string, why: string) => {
    const k = `${what}\u0000${why}`;
    const g = groups.get(k) ?? { jails: [], what, why };
    g.jails.push(jail);
    groups.set(k, g);
  };
  for (const { section, get } of jails) {
    for (const u of UNREAD) {
      const v = get(u.key);
      if (v !== undefined && !u.neutral(v)) add(section, `${u.key} ${v.trim()}`, u.why);
    }
    const port = (get("port") ?? "").trim();
    if (port && !/^(0:65535|1:65535|all|any)$/i.test(port)) add(section, "port", "fail2ban's ban action blocks the jail's ports only; fleetwall's ban drops all traffic from the address");
    const actions = (get("action") ?? "").split("\n").filter((l) => l.trim()).length;
    if (actions > 1) add(section, "action", "only the ban is taken over: fail2ban's other actions (mail, abuse reports, …) are not run");
  }
  return [...groups.values()].map((g) => ({ jail: g.jails.join(", "), what: g.what, why: g.why }));
}
