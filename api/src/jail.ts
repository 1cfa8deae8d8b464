import { z } from "zod";
import { DurationString } from "./duration.js";
import { CidrString } from "./net.js";
import { HOST_TAG, isFail2banJail } from "./jail-kind.js";
import { strictObject } from "./strict.js";

export { HOST_TAG, isFail2banJail };

/** sshd's modes are fail2ban's: `sshd` (normal), plus scanners and broken handshakes (`-ddos`), key-exchange and method probes (`-extra`), or all (`-aggressive`). */
export const BUILTIN_FILTERS = ["sshd", "sshd-ddos", "sshd-extra", "sshd-aggressive", "nginx-http-auth", "gotosocial-auth"] as const;

export const JailSource = z
  .union([
    strictObject({
      file: z
        .string()
        .min(1)
        .regex(/^\//, "must be an absolute path")
        .refine((p) => !/[*?[]/.test(p.slice(0, p.lastIndexOf("/"))), { message: "a glob (*, ?, [) may only be in the file name, not in a directory" })
        .describe("Log file to follow (rotation and truncation are followed). A glob in the file name (/var/log/nginx/*error.log) follows every matching file, new ones too, at most 64."),
    }),
    strictObject({
      journal: strictObject({
          unit: z.string().min(1).optional().describe("systemd unit whose entries are read (journalctl -u)."),
          identifier: z.string().min(1).optional().describe("SYSLOG_IDENTIFIER whose entries are read (journalctl -t)."),
        })
        .refine((j) => j.unit || j.identifier, { message: "a journal source needs a unit or an identifier" })
        .describe("The systemd journal, by unit and/or syslog identifier.")
        .meta({ "x-kubernetes-validations": [{ rule: "has(self.unit) || has(self.identifier)", message: "a journal source needs a unit or an identifier" }] }),
    }),
  ])
  .describe("Where the jail reads log lines: {file: PATH} or {journal: {unit: NAME}}.")
  .meta({ "x-kubernetes-validations": [{ rule: "has(self.file) ? !has(self.journal) : has(self.journal)", message: "give file or journal, one of them" }] });
export type JailSource = z.infer<typeof JailSource>;

export const Jail = strictObject({
    name: z.string().min(1).max(32).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be lowercase letters, digits and '-'").describe("Name of the jail; part of every ban's scenario."),
    filter: z.enum(BUILTIN_FILTERS).optional().describe("A built-in filter: sshd (sshd-ddos, sshd-extra and sshd-aggressive catch more, as fail2ban's modes do), nginx-http-auth, gotosocial-auth."),
    failRegex: z
      .array(z.string().min(1).max(8000))
      .max(50)
      .optional()
      .describe("fail2ban-style regexes; <HOST> stands for the offending IPv4 or IPv6 address (fail2ban's <ADDR>, <IP4>, <IP6>, <SUBNET>, <F-ID>, <F-…> tags work too)."),
    prefRegex: z.string().min(1).max(8000).optional().describe("fail2ban's prefregex: a line must match it first; fail-regexes then match its <F-CONTENT> part. Set with the other fail2ban fields, lines are matched as fail2ban does (time stamp cut out first)."),
    ignoreRegex: z.array(z.string().min(1).max(8000)).max(50).optional().describe("fail2ban's ignoreregex: a failure whose line matches one of these is not counted."),
    datePattern: z.string().min(1).max(2000).optional().describe("fail2ban's datepattern ({^LN-BEG}, %b %d %H:%M:%S, EPOCH, TAI64N, {NONE}, …); the time stamp is cut out of the line before matching. {DEFAULT}: fail2ban's default templates."),
    maxLines: z.number().int().min(1).max(100).optional().describe("fail2ban's maxlines: lines buffered for multi-line fail-regexes."),
    source: JailSource,
    maxRetry: z.number().int().min(1).max(1000).default(5).describe("Failures within findTime that ban an address."),
    findTime: DurationString.default("10m").describe("Window in which failures are counted."),
    banTime: DurationString.default("1h").describe("How long the first ban lasts."),
    banTimeIncrement: strictObject({
        factor: z.number().min(1).max(100).describe("Each repeat ban lasts factor times the previous one."),
        max: DurationString.describe("Longest ban."),
      })
      .optional()
      .describe("Escalation for repeat offenders."),
    ignore: z.array(CidrString).max(1000).default([]).describe("Addresses this jail never bans."),
    share: z.enum(["Fleet", "Local"]).default("Fleet").describe("Fleet: the controller may ban the address on every host; Local: this host only."),
  })
  .superRefine((jail, ctx) => {
    if (!jail.filter && !jail.failRegex?.length) ctx.addIssue({ code: "custom", path: ["filter"], message: "a jail needs a built-in filter or failRegex" });
    const fail2ban = isFail2banJail(jail);
    if (fail2ban && jail.filter) ctx.addIssue({ code: "custom", path: ["filter"], message: "a built-in filter cannot take prefRegex, ignoreRegex, datePattern or maxLines" });
    if (fail2ban) {
      if (!HOST_TAG.test(jail.prefRegex ?? "") && !jail.failRegex?.some((re) => HOST_TAG.test(re))) ctx.addIssue({ code: "custom", path: ["failRegex"], message: "a fail-regex (or the prefRegex) must name the offender: <HOST>, <ADDR>, <IP4>, <IP6>, <SUBNET> or <F-ID>" });
      return;
    }
    jail.failRegex?.forEach((re, i) => {
      if (!re.includes("<HOST>")) ctx.addIssue({ code: "custom", path: ["failRegex", i], message: "must contain <HOST>" });
    });
  });
export type Jail = z.infer<typeof Jail>;
