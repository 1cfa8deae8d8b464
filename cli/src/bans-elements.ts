import { z } from "zod";
import { ELEMENTS_DEFAULT_LIMIT, ELEMENTS_MAX_LIMIT, ElementsCursor, ElementsReply, isPast, nextCursor, SCHEMA_VERSION, boundedDurationMs, compareElements, compareKernel, elementsSubject, expectedFromDecisions, expectedOfReply, type ElementComparison } from "@fleetwall/api";
import type { NatsConnection } from "@nats-io/transport-node";
import { withNats } from "./bans-command.js";
import type { BanRow } from "./bans-list.js";
import type { NatsAccess } from "./nats-access.js";
import { table } from "./status-command.js";
import { parseConfig } from "./config.js";
import { ConfigError } from "./config-error.js";

/** `--elements` needs `--host`; `--limit` and `--timeout` bounded; a ConfigError naming the flag otherwise. */
export function elementsFlags(raw: { host?: string; limit?: string; timeout?: string; after?: string; origin?: string; list?: string; jail?: string }): { host: string; limit: number; timeoutMs: number; after?: ElementsCursor } {
  if (!raw.host) throw new ConfigError("--elements: lists one host's kernel; give --host");
  const filters = (["origin", "list", "jail"] as const).filter((f) => raw[f] !== undefined);
  if (filters.length > 0) throw new ConfigError(`--elements: lists every set of the host's kernel; ${filters.map((f) => `--${f}`).join(", ")} do not apply`);
  const schema = z.object({ limit: z.string().regex(/^\d+$/, "a whole number").transform(Number).pipe(z.number().int().min(1).max(ELEMENTS_MAX_LIMIT)), timeout: boundedDurationMs(100, 600_000) });
  const flags = parseConfig(schema, { limit: raw.limit ?? String(ELEMENTS_DEFAULT_LIMIT), timeout: raw.timeout ?? "10s" });
  return { host: raw.host, limit: flags.limit, timeoutMs: flags.timeout, ...(raw.after === undefined ? {} : { after: cursorFlag(raw.after) }) };
}

/** `--after SET:ELEMENT` (as the previous page printed it). */
function cursorFlag(text: string): ElementsCursor {
  const colon = text.indexOf(":");
  const r = ElementsCursor.safeParse({ set: text.slice(0, colon), element: text.slice(colon + 1) });
  if (colon < 0 || !r.success) throw new ConfigError(`--after: ${JSON.stringify(text)} is not SET:ELEMENT as a previous page printed it (e.g. ban4:203.0.113.7)`);
  return r.data;
}

/** The host did not answer, answered wrongly, or could not list: one line for the operator. */
export class ElementsUnavailableError extends Error {
  override name = "ElementsUnavailableError";
}

export interface HostElements {
  host: string;
  /** When the host listed its kernel (its clock). */
  at: string;
  loading: boolean;
  comparison: ElementComparison;
  /** Kernel elements the host holds in all (after `after`), and how many its answer left out (the limit). */
  kernelTotal: number;
  leftOut: number;
  /** Where this page started, and where the next one starts (`--after SET:ELEMENT`). */
  after?: ElementsCursor;
  next?: ElementsCursor;
}

/** Why a request failed, in words: no agent listening, none answering in time, or the server's refusal. */
export function elementsFailure(host: string, timeoutMs: number, error: unknown, stale: boolean): ElementsUnavailableError {
  const cause = (error as { cause?: unknown })?.cause ?? error;
  const name = (cause as Error)?.name;
  if (stale && (name === "NoResponders" || name === "TimeoutError")) return new ElementsUnavailableError(`host ${host}: no answer; it is STALE (it stopped reporting: \`fleetwall status\`)`, { cause: error });
  const text =
    name === "NoResponders" ? `host ${host}: no agent listens for element requests (not running, not connected, or an older agent; \`fleetwall status\` shows it)`
    : name === "TimeoutError" ? `host ${host}: no answer within ${timeoutMs / 1000}s (is it STALE in \`fleetwall status\`? a large set takes longer: --timeout)`
    : name === "PermissionViolationError" ? `host ${host}: the server refused the request (${(cause as Error).message}); use the operator's credentials`
    : `host ${host}: element request failed: ${(cause as Error)?.message ?? String(cause)}`;
  return new ElementsUnavailableError(text, { cause: error });
}

/**
 * Checks an answer strictly: it is untrusted input (any holder of the host's credentials can write
 * it). The schema, the host it is for, each set once, each set's elements in listing order.
 */
export function parseElementsReply(host: string, data: string, after?: ElementsCursor): ElementsReply {
  let reply: ElementsReply;
  try {
    reply = ElementsReply.parse(JSON.parse(data));
  } catch (error) {
    const detail = error instanceof Error && "issues" in error ? (error as { issues: { path: PropertyKey[]; message: string }[] }).issues.slice(0, 3).map((i) => `${i.path.join(".") || "(answer)"}: ${i.message}`).join("; ") : "not JSON";
    throw new ElementsUnavailableError(`host ${host}: invalid answer: ${detail}`, { cause: error });
  }
  const bad = (why: string) => new ElementsUnavailableError(`host ${host}: invalid answer: ${why}`);
  if (reply.hostId !== host) throw bad(`it is for host ${reply.hostId}`);
  if (reply.error) throw new ElementsUnavailableError(`host ${host}: did not list its elements: ${reply.error}`);
  const names = reply.sets.map((s) => s.set);
  if (new Set(names).size !== names.length || names.length !== 8) throw bad("each of the 8 sets must be listed once");
  for (const s of reply.sets) {
    if (s.elements.length > s.total) throw bad(`${s.set} lists more elements than its total`);
    for (let i = 1; i < s.elements.length; i += 1) if (compareElements((s.elements[i - 1] as { element: string }).element, (s.elements[i] as { element: string }).element) >= 0) throw bad(`${s.set} is not in order`);
  }
  if (JSON.stringify(reply.after) !== JSON.stringify(after)) throw bad("it is for another page");
  const before = [...reply.sets.flatMap((x) => x.elements.map((e) => [x.set, e.element] as const)), ...reply.refused.map((r) => [r.set, r.element] as const)].find(([set, element]) => !isPast(after, set, element));
  if (before) throw bad(`${before[0]} ${before[1]} is not after the page's start`);
  if (reply.refused.length > reply.refusedTotal || reply.own.length > reply.ownTotal || reply.local.length > reply.localTotal) throw bad("a list is longer than its total");
  return reply;
}

/** Asks one host for its kernel's elements; its answer, checked. */
export async function requestElements(nc: NatsConnection, host: string, page: { limit: number; timeoutMs: number; after?: ElementsCursor }, stale = false): Promise<ElementsReply> {
  const { limit, timeoutMs, after } = page;
  const body = new TextEncoder().encode(JSON.stringify({ schemaVersion: SCHEMA_VERSION, limit, ...(after ? { after } : {}) }));
  const msg = await nc.request(elementsSubject(host), body, { timeout: timeoutMs }).catch((error: unknown) => {
    throw elementsFailure(host, timeoutMs, error, stale);
  });
  return parseElementsReply(host, msg.string(), after);
}

/** The host's kernel against the fleet's decisions for it (`rows`, origin fleet) and what it holds of its own. */
export async function hostElements(access: NatsAccess, host: string, rows: readonly BanRow[], page: { limit: number; timeoutMs: number; after?: ElementsCursor }, stale = false, now = Date.now()): Promise<HostElements> {
  const reply = await withNats(access, (nc) => requestElements(nc, host, page, stale));
  const expected = [...expectedFromDecisions(rows.filter((r) => r.origin === "fleet")), ...expectedOfReply(reply)];
  const kernelTotal = reply.sets.reduce((n, s) => n + s.total, 0);
  const listed = reply.sets.reduce((n, s) => n + s.elements.length, 0);
  const next = nextCursor(reply);
  return { host, at: reply.at, loading: reply.loading, comparison: compareKernel(reply, expected, now), kernelTotal, leftOut: kernelTotal - listed, ...(page.after ? { after: page.after } : {}), ...(next ? { next } : {}) };
}

const time = (ms: number | null | undefined) => (ms === undefined ? "-" : ms === null ? "never" : new Date(ms).toISOString().replace(/\.\d+Z$/, "Z"));

/**
 * The summary in two sums that add up: the kernel's elements (in force, own, EXTRA, expiring soon
 * and so not judged, beyond --limit), then what the host should hold that is not in its kernel
 * (covered by a network it holds, MISSING, REFUSED, expiring soon).
 */
export function elementsSummary(e: Pick<HostElements, "comparison" | "kernelTotal" | "leftOut">): string {
  const c = e.comparison.counts;
  const judgedInKernel = c["in force"] + c.own + c.EXTRA;
  const expiringInKernel = Math.max(0, Math.min(e.comparison.notCompared, e.kernelTotal - e.leftOut - judgedInKernel));
  const expiringWanted = e.comparison.notCompared - expiringInKernel;
  const kernel = [`${c["in force"]} in force`, `${c.own} own (its allow entries)`, `${c.EXTRA} EXTRA`];
  if (expiringInKernel > 0) kernel.push(`${expiringInKernel} expiring (not judged)`);
  if (e.leftOut > 0) kernel.push(`${e.leftOut} not listed (--limit)`);
  const wanted = [`${c.covered} covered (inside a network it holds)`, `${c.MISSING} MISSING`, `${c.REFUSED} REFUSED`];
  if (expiringWanted > 0) wanted.push(`${expiringWanted} expiring (not judged)`);
  return `${e.kernelTotal} element(s) in its sets = ${kernel.join(" + ")}; not in its sets: ${wanted.join(", ")}`;
}

/** The element listing for people: a summary line, then one row per element. */
export function formatElements(e: HostElements): string {
  const loading = e.loading ? " (still reading the bans bucket since it started: its kernel holds what it had)" : "";
  const from = e.after ? ` after ${e.after.set}:${e.after.element}` : "";
  const head = `host ${e.host} kernel at ${e.at}${from}${loading}: ${elementsSummary(e)}\n`;
  const rows = e.comparison.rows.map((r) => [r.set, r.element, r.state, time(r.kernelExpiresAt), time(r.expectedExpiresAt), r.from.join(",") || "-", r.detail ?? ""]);
  const next = e.next ? `next page: --after ${e.next.set}:${e.next.element}\n` : "";
  return `${head}${table(["SET", "ELEMENT", "STATE", "KERNEL EXPIRES", "DECISION EXPIRES", "FROM", "DETAIL"], rows)}\n${next}`;
}

/** True when the kernel differs from the decisions (an element missing, extra or refused). */
export const elementsDiffer = (e: HostElements): boolean => e.comparison.counts.MISSING + e.comparison.counts.EXTRA + e.comparison.counts.REFUSED > 0;
