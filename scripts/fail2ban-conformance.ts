// Writes docs/fail2ban-conformance.md: Debian's fail2ban test logs through the imported filters
// (npx tsx scripts/fail2ban-conformance.ts). agent/src/fail2ban/conformance.test.ts fails when it drifts.
import { writeFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { REGEX_FLAGS } from "../api/src/version.js";

for (const flag of REGEX_FLAGS) setFlagsFromString(flag); // as the fleetwall binary does
const { conformanceFromPackage } = await import("../agent/src/fail2ban/conformance.test-support.js");
writeFileSync(new URL("../docs/fail2ban-conformance.md", import.meta.url), conformanceFromPackage().markdown);
