import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileFilter } from "./filters.js";
import { sshdFilter, type SshdMode } from "./sshd-filter.js";

/**
 * Every sshd line form the filter matches that holds a user name (the client chooses it), in every
 * mode: a user name can never make an address that appears only inside it a failure.
 */

const MODES: SshdMode[] = ["normal", "ddos", "extra", "aggressive"];
const FILTERS = ["sshd", "sshd-ddos", "sshd-extra", "sshd-aggressive"];

/** The content sshd writes, for user name `u` from address `a`. */
const FORMS: ((u: string, a: string) => string)[] = [
  (u, a) => `Authentication failure for ${u} from ${a}`,
  (u, a) => `User not known to the underlying authentication module for ${u} from ${a}`,
  (u, a) => `Failed password for ${u} from ${a} port 4 ssh2`,
  (u, a) => `Failed password for invalid user ${u} from ${a} port 4 ssh2`,
  (u, a) => `Failed publickey for invalid user ${u} from ${a} port 4 ssh2: RSA SHA256:v3dpapGleDaUKf`,
  (u, a) => `Invalid user ${u} from ${a} port 4`,
  (u, a) => `Illegal user ${u} from ${a}`,
  (u, a) => `User ${u} from ${a} not allowed because not listed in AllowUsers`,
  (u, a) => `User ${u} from ${a} not allowed because listed in DenyUsers`,
  (u, a) => `User ${u} from ${a} not allowed because not in any group`,
  (u, a) => `User ${u} from ${a} not allowed because a group is listed in DenyGroups`,
  (u, a) => `User ${u} from ${a} not allowed because none of user's groups are listed in AllowGroups`,
  (u, a) => `pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=${a}  user=${u}`,
  (u, a) => `maximum authentication attempts exceeded for ${u} from ${a} port 4 ssh2 [preauth]`,
  (u, a) => `maximum authentication attempts exceeded for invalid user ${u} from ${a} port 4 ssh2 [preauth]`,
  (u, a) => `Disconnecting invalid user ${u} ${a} port 4: Change of username or service not allowed: (${u},ssh-connection) to (x,ssh-connection) [preauth]`,
  (u, a) => `Disconnecting authenticating user ${u} ${a} port 4: Change of username or service not allowed: (${u},ssh-connection) to (x,ssh-connection) [preauth]`,
  (u, a) => `Connection closed by invalid user ${u} ${a} port 4 [preauth]`,
  (u, a) => `Connection closed by authenticating user ${u} ${a} port 4 [preauth]`,
  (u, a) => `Connection reset by invalid user ${u} ${a} port 4 [preauth]`,
  (u, a) => `Connection reset by authenticating user ${u} ${a} port 4 [preauth]`,
  (u, a) => `Disconnected from invalid user ${u} ${a} port 4 [preauth]`,
  (u, a) => `Disconnected from authenticating user ${u} ${a} port 4 [preauth]`,
  (u, a) => `Disconnected invalid user ${u} ${a} port 4 [preauth]`,
  (u, a) => `Connection closed by invalid user ${u} ${a} port 4`,
  (u, a) => `Accepted password for ${u} from ${a} port 4 ssh2`,
];

/** A failure without an address first (its user name crafted too): the next line names the address. */
const pendingFirst = (u: string): string => `Disconnecting: Too many authentication failures for ${u} [preauth]`;

/**
 * Runs a form in fresh filters: alone, after a pending failure (the form names its address), and
 * before one (a nofail form teaches the session its address); returns what each run found.
 */
function run(filter: string, content: string, u: string): (string | undefined)[] {
  const [line, pending] = [`h sshd[7]: ${content}`, `h sshd[7]: ${pendingFirst(u)}`];
  const alone = compileFilter(filter, [])(line);
  const after = compileFilter(filter, []);
  after(pending);
  const before = compileFilter(filter, []);
  const first = before(line);
  return [alone, after(line), first, before(pending)];
}

/** Victim / attacker pairs; the victim's text is a prefix of the attacker's in two of them. */
const PAIRS: [string, string][] = [
  ["198.18.77.7", "203.0.113.9"],
  ["203.0.113.5", "203.0.113.50"],
  ["2001:db8:99::5", "2001:db8:99::5a"],
];

const craftedNames = (v: string): string[] => [
  `a ${v}`,
  `a ${v} on`,
  `${v}`,
  `a ${v} port 4`,
  `a ${v} port 4 [preauth]`,
  `a ${v} on ${v} port 4 [preauth]`,
  `a from ${v}`,
  `a from ${v} on`,
  `a from ${v} port 22`,
  `a from ${v} port 22 ssh2`,
  `a from ${v} port 22 ssh2:`,
  `a from ${v} not allowed because not listed in AllowUsers`,
  `a ${v} port 1: Change of username or service not allowed: (a,x) to (y,z) [preauth]`,
  `x rhost=${v}`,
  `a for b from ${v}`,
];

describe("crafted user names in every line form", () => {
  it("an honest user name finds the attacker in every form that is a failure (the tables below can fail)", () => {
    for (const [, a] of PAIRS) {
      FORMS.forEach((form, i) => {
        const found = FILTERS.flatMap((filter) => [...run(filter, form("admin", a), "admin"), ...run(filter, form("a b", a), "a b")]);
        if (i === FORMS.length - 1) expect(found.every((h) => h === undefined)).toBe(true); // a login is no failure
        else expect(found, form("admin", a)).toContain(a);
      });
    }
  });

  for (const [v, a] of PAIRS) {
    it.each(craftedNames(v))(`victim ${v}, attacker ${a}, user name %j`, (u) => {
      for (const form of FORMS) {
        for (const filter of FILTERS) {
          for (const host of run(filter, form(u, a), u)) expect(host, `${filter}: ${form(u, a)}`).not.toBe(v);
        }
      }
    });
  }

  it.each([
    "Connection closed by invalid user a 203.0.113.5 on 203.0.113.50 port 41 [preauth]",
    "Disconnected from authenticating user a 2001:db8:99::5 on 2001:db8:99::5a port 41 [preauth]",
    "Connection reset by authenticating user a 203.0.113.5 on 203.0.113.50 port 41 [preauth]",
    "Disconnected from invalid user a 203.0.113.5 on 203.0.113.50 port 41 [preauth]",
  ])("the red team's line is ambiguous, counted, no one's failure: %s", (content) => {
    for (const mode of ["ddos", "extra", "aggressive"] as SshdMode[]) {
      let ambiguous = 0;
      const f = sshdFilter({ mode, onAmbiguous: () => (ambiguous += 1) });
      const matched = !(mode === "extra" && !content.startsWith("Disconnected"));
      expect(f(`h sshd[7]: ${content}`), mode).toBeUndefined();
      expect(ambiguous, mode).toBe(matched ? 1 : 0);
    }
  });

  it("a user name of spaces and addresses before sshd's own address: the address is sshd's", () => {
    const f = sshdFilter({ mode: "ddos" });
    expect(f("h sshd[7]: Connection closed by invalid user a 203.0.113.5 port 4 [preauth] b 203.0.113.50 port 41 [preauth]")).toEqual({ host: "203.0.113.50" });
  });
});

/** Pieces of text a crafted user name is made of. */
const piece = (v: string): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(v, ` ${v}`, " on", " on ", " from ", " from", " port 4", " port 22", " [preauth]", " ssh2", ":", " ", "a", "user ", "invalid user ", "(", ",", ")", " Change of username or service not allowed: ", " rhost=", " for ") },
    { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
  );

/** A victim / attacker pair and a user name made of pieces holding the victim. */
const crafted = fc.constantFrom(...PAIRS).chain((pair) => fc.tuple(fc.constant(pair), fc.array(piece(pair[0]), { minLength: 1, maxLength: 10 }).map((p) => p.join(""))));

describe("property: a crafted user name never makes an address in it a failure", () => {
  it("in every form and mode, alone and after a pending failure", () => {
    fc.assert(
      fc.property(crafted, fc.nat(FORMS.length - 1), fc.constantFrom(...MODES), ([[v, a], u], i, mode) => {
        const form = FORMS[i] as (u: string, a: string) => string;
        const filter = FILTERS[MODES.indexOf(mode)] as string;
        // an address the filter finds is the attacker's, never one only the user name holds
        for (const host of run(filter, form(u, a), u)) if (host !== undefined) expect(host, form(u, a)).toBe(a);
      }),
      { numRuns: 3000 },
    );
  });
});
