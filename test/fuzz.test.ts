import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BanSignal, HostRegistration, HostReport, generateSigningKeyPem, loadSigningKey, parseResource } from "@fleetwall/api";
import { parseManifestText } from "@fleetwall/controller";
import { verifyDecision, verifyDesired, verifySeal } from "@fleetwall/agent";

// Bad input gets a clear error and never a crash: every parser that meets the outside world,
// fed with arbitrary values and text.
const key = loadSigningKey(generateSigningKeyPem().privatePem).publicKeyPem;
const runs = { numRuns: 2000 };

describe("fuzzing the parsers of the outside world", () => {
  it("parseResource never throws, and an error always names a field or the kind", () => {
    const doc = fc.oneof(
      fc.anything(),
      fc.record({ apiVersion: fc.constant("fleetwall.io/v1alpha1"), kind: fc.constantFrom("FirewallPolicy", "BanList"), metadata: fc.record({ name: fc.string() }), spec: fc.anything() }),
      fc.record({
        apiVersion: fc.constant("fleetwall.io/v1alpha1"),
        kind: fc.constant("FirewallPolicy"),
        metadata: fc.constant({ name: "p" }),
        spec: fc.record({ hostSelector: fc.constant({}), ingress: fc.array(fc.dictionary(fc.constantFrom("name", "action", "protocol", "ports", "sources", "rateLimit", "icmpTypes"), fc.anything())) }),
      }),
    );
    fc.assert(
      fc.property(doc, (d) => {
        const r = parseResource(d);
        if (!r.ok) for (const e of r.errors) expect(e).toMatch(/^(kind|metadata|spec|apiVersion|status)[.:[]|^[a-zA-Z]/);
      }),
      runs,
    );
  });

  it("parseManifestText never throws on arbitrary text", () => {
    fc.assert(fc.property(fc.string({ maxLength: 400 }), (text) => void parseManifestText("f.yaml", text)), runs);
  });

  it("message checks never throw and accept nothing unsigned", () => {
    const text = fc.oneof(fc.string(), fc.jsonValue().map((v) => JSON.stringify(v)), fc.record({ schemaVersion: fc.constant(1), keyId: fc.string(), payload: fc.string(), signature: fc.string(), seal: fc.option(fc.string(), { nil: undefined }) }).map((v) => JSON.stringify(v)));
    fc.assert(
      fc.property(text, (t) => {
        expect(verifyDesired(t, { hostId: "h", trustedKey: key, appliedRevision: 0 }).ok).toBe(false);
        expect(verifyDecision(t, key).ok).toBe(false);
        expect(verifySeal(t, key).ok).toBe(false);
      }),
      runs,
    );
  });

  it("report, signal and registration schemas reject arbitrary values without throwing", () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        for (const schema of [HostReport, BanSignal, HostRegistration]) expect(() => schema.safeParse(v)).not.toThrow();
      }),
      runs,
    );
  });
});
