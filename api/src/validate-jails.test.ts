import { describe, expect, it } from "vitest";
import { parseResource, type Jail } from "./index.js";

const policy = (jails: unknown[]) => ({ apiVersion: "fleetwall.io/v1alpha1", kind: "FirewallPolicy", metadata: { name: "p" }, spec: { hostSelector: {}, jails } });
const jail = (failRegex: string[]) => ({ name: "x", source: { file: "/var/log/x.log" }, failRegex });

describe("parseResource with a jail check (the agent's regex engine, given by the controller)", () => {
  const refuseBad = (j: Jail) => (j.failRegex ?? []).flatMap((re, i) => (re.includes("bad") ? [{ path: ["failRegex", i], message: "does not parse: x" }] : []));

  it("makes the policy invalid, naming each field's path", () => {
    const r = parseResource(policy([jail(["ok <HOST>"]), { ...jail(["ok <HOST>", "bad <HOST>"]), name: "y" }]), { checkJail: refuseBad });
    expect(r).toEqual({ ok: false, kind: "FirewallPolicy", name: "p", errors: ["spec.jails[1].failRegex[1]: does not parse: x"] });
  });

  it("passes a policy whose jails the check accepts, and is not run on one the schema refused", () => {
    expect(parseResource(policy([jail(["ok <HOST>"])]), { checkJail: refuseBad }).ok).toBe(true);
    let ran = false;
    const r = parseResource(policy([{ ...jail(["bad <HOST>"]), name: "Bad Name" }]), { checkJail: () => ((ran = true), []) });
    expect(r.ok).toBe(false);
    expect(ran).toBe(false);
  });
});
