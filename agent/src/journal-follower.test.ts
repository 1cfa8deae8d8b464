import { describe, expect, it } from "vitest";
import { journalLine } from "./journal-follower.js";

describe("journal entries as log lines", () => {
  it.each([
    [{ MESSAGE: "Failed password for root from 203.0.113.7 port 1 ssh2", _HOSTNAME: "web-1", SYSLOG_IDENTIFIER: "sshd", _PID: "42" }, "web-1 sshd[42]: Failed password for root from 203.0.113.7 port 1 ssh2"],
    [{ MESSAGE: "m", SYSLOG_IDENTIFIER: "sshd-session", SYSLOG_PID: "7", _PID: "8" }, "sshd-session[7]: m"],
    [{ MESSAGE: "m", _COMM: "sshd", _HOSTNAME: "h" }, "h sshd: m"],
    [{ MESSAGE: "bare" }, "bare"],
    [{ MESSAGE: [104, 105, 255], SYSLOG_IDENTIFIER: "x" }, "x: hi\ufffd"],
    [{ __CURSOR: "s=1" }, undefined],
  ])("%j → %s", (entry, line) => expect(journalLine(entry)).toBe(line));
});
