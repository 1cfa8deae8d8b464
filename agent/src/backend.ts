import type { RulesetIR } from "@fleetwall/api";
import type { BanOp, BanSetKind } from "./bans-render.js";
import type { Family } from "@fleetwall/api";
import type { BansListing } from "./bans-listing.js";

export interface Enforced {
  /** sha256 of the script loaded, failsafe rules included. */
  rulesetHash: string;
  /** What the policy table looks like after the apply (no counters, no handles, no elements). */
  fingerprint: string;
}

/** One element of the bans table as a rebuild writes it: seconds until it expires, or none. */
export interface BanElement {
  kind: BanSetKind;
  family: Family;
  element: string;
  timeoutSeconds?: number;
}

/** A ban transaction the backend refused as a whole: nothing of it changed. */
export class BanOpsRefused extends Error {
  override name = "BanOpsRefused";
}

/**
 * Everything the agent asks of the kernel's firewall (the shape of the CrowdSec bouncer's backend
 * interface). The nft implementation (`NftBackend`) is the only code that changes the kernel; the
 * in-memory one (`MemoryBackend`) lets the agent's loops be tested without root, and prints what it
 * would apply for `fleetwall agent --dry-run`.
 */
export interface FirewallBackend {
  /** Makes the bans table when it is missing or not the one the agent makes; true when it was (re)made, empty. */
  ensureTables(): Promise<boolean>;
  /** Replaces the policy table in one transaction and reads it back; throws when refused or read back wrong. */
  applyRuleset(ruleset: RulesetIR): Promise<Enforced>;
  /** The policy table as it is now, comparable with `Enforced.fingerprint`. */
  fingerprint(): Promise<string>;
  /** True when the bans table is there with the sets and chain the agent made (elements are not listed). */
  bansTableIntact(): Promise<boolean>;
  /** One transaction of ban set changes; throws `BanOpsRefused` (nothing changed) when refused. */
  applyBanOps(ops: readonly BanOp[]): Promise<void>;
  /** Replaces the bans table by one holding exactly these elements, in one transaction. */
  replaceBans(elements: readonly BanElement[]): Promise<void>;
  /** Whether a set holds an element now (spot checks; never a listing of a set). */
  hasElement(kind: BanSetKind, family: Family, element: string): Promise<boolean>;
  /**
   * Every element of the bans table's sets as the kernel holds it now, with its time left; undefined
   * when there is no bans table. A full listing: only for an operator's request (a million elements
   * take half a minute), never for the agent's own checks.
   */
  listBans(): Promise<BansListing | undefined>;
  /** Packets counted by each audit policy's would-drop counter. */
  counters(ruleset: RulesetIR): Promise<Record<string, number>>;
  close(): void;
}
