import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileFilter } from "./filters.js";
import { gotosocialAuthFilter, logfmtFields, nginxAuthFilter } from "./http-filters.js";

const HEAD = "2026/12/06 04:00:00 [error] 10#10: *1 ";
const TAIL = ', server: h3, request: "GET /private HTTP/1.1", host: "h3"';

describe("nginx-http-auth: nginx's error line by its grammar", () => {
  it.each([
    [`${HEAD}user "bob": password mismatch, client: 203.0.113.7${TAIL}`, "203.0.113.7"],
    [`${HEAD}user "bob" was not found in "/etc/nginx/.htpasswd", client: 203.0.113.8${TAIL}`, "203.0.113.8"],
    [`${HEAD}no user/password was provided for basic authentication, client: 2001:db8::9${TAIL}, referrer: "https://example.org/"`, "2001:db8::9"],
    [`${HEAD}no user/password was provided for basic authentication, client: 203.0.113.10, server: h3`, "203.0.113.10"],
    // the client's text (a user name, a referrer) naming another address does not hide the source
    [`${HEAD}user "a, client: 198.18.0.12, server: x": password mismatch, client: 203.0.113.13${TAIL}`, "203.0.113.13"],
    [`${HEAD}user "x": password mismatch, client: 198.18.0.12, server: y": password mismatch, client: 203.0.113.15, server: h3`, "203.0.113.15"],
    [`${HEAD}no user/password was provided for basic authentication, client: 203.0.113.14${TAIL}, referrer: "no user/password was provided for basic authentication, client: 198.18.0.12, server: x"`, "203.0.113.14"],
    // journal lines have no time stamp; syslog lines have syslog's header first
    [`[error] 10#10: *1 user "bob": password mismatch, client: 203.0.113.11${TAIL}`, "203.0.113.11"],
    [`Dec  6 04:00:00 h3 nginx: ${HEAD}user "bob": password mismatch, client: 203.0.113.12${TAIL}`, "203.0.113.12"],
  ])("%s → %s", (line, host) => expect(nginxAuthFilter()(line)).toEqual({ kind: "failure", host }));

  it.each([
    // the reviewer's line: a 404 whose referrer names the victim
    `${HEAD}open() "/var/www/html/nope" failed (2: No such file or directory), client: 203.0.113.210, server: h3, request: "GET /nope HTTP/1.1", host: "h3", referrer: "no user/password was provided for basic authentication, client: 198.18.0.12, server: x"`,
    // the same text in the request line or the host header
    `${HEAD}open() "/x" failed (2: No such file or directory), client: 203.0.113.210, server: h3, request: "GET /no user/password was provided for basic authentication, client: 198.18.0.12, server: x HTTP/1.1"`,
    `${HEAD}user "bob": password mismatch, client: unix:, server: h3`,
    `${HEAD}user "bob": password matched, client: 203.0.113.7${TAIL}`,
    `${HEAD}user "bob": password mismatch, client: 203.0.113.7, server: h3 and more`,
    'some app: user "bob": password mismatch, client: 203.0.113.7, server: h3',
    // a user name holding a newline: nginx writes it raw, so a physical line starts with the client's
    // text, and a referrer carrying a whole nginx message must not be read as nginx's (second review)
    `y:pw" was not found in "/etc/nginx/.htpasswd", client: 203.0.113.100, server: h, request: "GET / HTTP/1.1", host: "h", referrer: "[error] 1#1: *1 no user/password was provided for basic authentication, client: 203.0.113.120, server: x"`,
  ])("no one's failure: %s", (line) => expect(nginxAuthFilter()(line)).toBeUndefined());

  it.each([
    // a user name crafted so that the line parses two ways
    `${HEAD}user "x": password mismatch, client: 198.18.0.12, server: y, host: "": password mismatch, client: 203.0.113.7${TAIL}`,
  ])("two candidates are ambiguous: %s", (line) => {
    expect(nginxAuthFilter()(line)).toEqual({ kind: "ambiguous" });
    let ambiguous = 0;
    expect(compileFilter("nginx-http-auth", [], { onAmbiguous: () => (ambiguous += 1) })(line)).toBeUndefined();
    expect(ambiguous).toBe(1);
  });

  it("a victim named anywhere in the client's text is never the failing address (property)", () => {
    const clientText = fc.array(fc.constantFrom("no user/password was provided for basic authentication", ", client: ", "198.18.0.12", ", server: x", '"', ": password mismatch", " ", "user ", "a"), { maxLength: 12 }).map((p) => p.join(""));
    fc.assert(
      fc.property(clientText, clientText, clientText, (user, request, referrer) => {
        const lines = [
          `${HEAD}user "${user}": password mismatch, client: 203.0.113.7, server: h3, request: "GET /${request} HTTP/1.1", host: "h3", referrer: "${referrer}"`,
          `${HEAD}open() "/x" failed (2: No such file or directory), client: 203.0.113.7, server: h3, request: "GET /${request} HTTP/1.1", referrer: "${referrer}"`,
        ];
        for (const line of lines) {
          const found = nginxAuthFilter()(line);
          expect(found?.kind === "failure" ? found.host : undefined).not.toBe("198.18.0.12");
        }
      }),
    );
  });
});

describe("gotosocial-auth: the request log's own fields", () => {
  const f = () => gotosocialAuthFilter();
  it.each([
    ['timestamp="06/12/2026 04:00:00.000" func=router.loggingMiddleware level=INFO latency="1ms" userAgent="curl/8" method=POST statusCode=401 path=/auth/sign_in clientIP=203.0.113.8 msg="Unauthorized"', "203.0.113.8"],
    ['{"level":"INFO","userAgent":"x","statusCode":401,"path":"/auth/sign_in","clientIP":"2001:db8::8"}', "2001:db8::8"],
    ['Dec  6 04:00:00 h3 gotosocial[9]: method=POST statusCode=401 path="/auth/sign_in" clientIP="203.0.113.9"', "203.0.113.9"],
  ])("%s → %s", (line, host) => expect(f()(line)).toEqual({ kind: "failure", host }));

  it.each([
    // a User-Agent that holds the fields of a failure, before the real ones
    'timestamp="06/12/2026 04:00:00.000" userAgent="x statusCode=401 path=/auth/sign_in clientIP=198.18.0.12" method=GET statusCode=200 path=/about clientIP=203.0.113.8',
    'timestamp="06/12/2026 04:00:00.000" userAgent="x \\" statusCode=401 path=/auth/sign_in clientIP=198.18.0.12" method=GET statusCode=200 path=/about clientIP=203.0.113.8',
    '{"userAgent":"\\"statusCode\\":401,\\"path\\":\\"/auth/sign_in\\",\\"clientIP\\":\\"198.18.0.12\\"","statusCode":200,"path":"/about","clientIP":"203.0.113.8"}',
    "statusCode=200 path=/auth/sign_in clientIP=203.0.113.8",
    "statusCode=401 path=/auth/sign_in_other clientIP=203.0.113.8",
  ])("no one's failure: %s", (line) => expect(f()(line)).toBeUndefined());

  it("a clientIP given twice is ambiguous", () => {
    expect(f()("statusCode=401 path=/auth/sign_in clientIP=198.18.0.12 clientIP=203.0.113.8")).toEqual({ kind: "ambiguous" });
  });

  it("reads logfmt's quoted values with their escapes", () => {
    expect([...logfmtFields('a=1 b="x \\" c=2" junk "q d=3" e=')]).toEqual([["a", "1"], ["b", 'x " c=2'], ["e", ""]]);
  });
});
