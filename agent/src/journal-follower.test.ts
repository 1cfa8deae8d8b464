import { describe, expect, it } from "vitest";
import { readsSshd } from "./jail-source.js";
import { journalLine, sshdEntry } from "./journal-follower.js";

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

describe("sshd's entries, by the journal's trusted fields", () => {
  it.each([
    [{ SYSLOG_IDENTIFIER: "sshd", _COMM: "sshd", _UID: "0" }, true],
    [{ SYSLOG_IDENTIFIER: "sshd-session", _COMM: "sshd-session", _UID: "0" }, true],
    [{ SYSLOG_IDENTIFIER: "sshd", _COMM: "sshd-auth", _UID: "0" }, true],
    [{ SYSLOG_IDENTIFIER: "sshd", _COMM: "x", _EXE: "/usr/sbin/sshd", _UID: "0" }, true],
    [{ SYSLOG_IDENTIFIER: "sshd", _COMM: "sshd", _UID: "104", _SYSTEMD_UNIT: "ssh.service" }, true],
    [{ SYSLOG_IDENTIFIER: "sshd", _UID: "0", _SYSTEMD_UNIT: "sshd.service" }, true],
    [{ SYSLOG_IDENTIFIER: "sshd", _UID: "0", _SYSTEMD_UNIT: "sshd@3-198.18.0.1:22-203.0.113.9:4000.service" }, true],
    // any local user: systemd-cat -t sshd, logger -t sshd, a program of their own named sshd
    [{ SYSLOG_IDENTIFIER: "sshd", _COMM: "systemd-cat", _UID: "0" }, false],
    [{ SYSLOG_IDENTIFIER: "sshd", _COMM: "logger", _UID: "1000", _SYSTEMD_UNIT: "session-3.scope" }, false],
    [{ SYSLOG_IDENTIFIER: "sshd", _COMM: "sshd", _UID: "65534" }, false],
    [{ SYSLOG_IDENTIFIER: "sshd", _COMM: "sshd", _EXE: "/home/a/sshd", _UID: "1000", _SYSTEMD_UNIT: "user@1000.service" }, false],
    [{ SYSLOG_IDENTIFIER: "sshd", _COMM: "sshdx", _EXE: "/tmp/notsshd", _UID: "0" }, false],
    [{ SYSLOG_IDENTIFIER: "sshd", _SYSTEMD_UNIT: "sshd.service.evil", _UID: "1000" }, false],
    [{ SYSLOG_IDENTIFIER: "sshd", _COMM: "sshd" }, false],
    [{ SYSLOG_IDENTIFIER: "sshd", SSHD_UNIT: "ssh.service", _UID: "1000" }, false],
  ])("%j → %s", (entry, ok) => expect(sshdEntry(entry)).toBe(ok));

  it.each([
    [{ filter: "sshd", source: { file: "/var/log/auth.log" } }, true],
    [{ filter: "sshd-aggressive", source: { journal: { unit: "nginx" } } }, true],
    [{ source: { journal: { identifier: "sshd" } } }, true],
    [{ source: { journal: { identifier: "sshd-session" } } }, true],
    [{ source: { journal: { unit: "ssh" } } }, true],
    [{ source: { journal: { unit: "sshd.service" } } }, true],
    [{ filter: "nginx-http-auth", source: { journal: { unit: "nginx" } } }, false],
    [{ source: { journal: { identifier: "postfix/smtpd" } } }, false],
  ])("a jail %j reads sshd's log: %s", (jail, yes) => expect(readsSshd(jail as Parameters<typeof readsSshd>[0])).toBe(yes));
});
