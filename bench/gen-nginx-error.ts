// A second nginx error log for bench/detect-shapes.ts, written apart from gen-logs.ts (whose nginx
// log is one [warn] line and one limit_req line over and over): a busy web server's error.log as
// nginx writes it, most of it not limit_req: 404s of scanners (`open() … failed`), upstream
// timeouts, TLS handshake failures, keepalive closes, worker notices, limit_req's `delaying` and
// `dry run` lines and limit_conn's, which nginx-limit-req must not match, zones of several names,
// four worker pids, IPv4 and IPv6, and requests whose URI carries the failure's words (a client
// can put any text there: a line that holds the literal and must not match). Deterministic.

/** mulberry32: a random source of its own, unlike the other generators'. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

type Rng = () => number;
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
const int = (r: Rng, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

const v4 = (r: Rng) => `${pick(r, ["203.0.113.", "198.51.100.", "198.18.9."])}${int(r, 1, 254)}`;
const v6 = (r: Rng) => `2001:db8:${int(r, 0, 0xffff).toString(16)}:${int(r, 0, 0xff).toString(16)}::${int(r, 1, 0xffff).toString(16)}`;
const SERVERS = ["www.example.org", "api.example.org", "shop.example.net", "_"];
const PATHS = ["/wp-login.php", "/xmlrpc.php", "/.env", "/admin/config.php", "/api/v2/orders", "/login", "/static/app.3f9a.js", "/phpmyadmin/index.php", "/cgi-bin/luci", "/"];
const ZONES = ["one", "login", "api_per_ip", "perip"];

/** nginx's error log time: local time, a second or so between lines, from Apr 12. */
function clock(r: Rng): () => string {
  let s = Date.UTC(2026, 3, 12, 9, 30, 0) / 1000;
  const p = (n: number) => String(n).padStart(2, "0");
  return () => {
    s += r() < 0.6 ? 0 : int(r, 1, 3);
    const d = new Date(s * 1000);
    return `${d.getUTCFullYear()}/${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
  };
}

/** The message of one line (after `[level] pid#tid: `), and its level. */
function message(r: Rng, client: string, conn: number): [string, string] {
  const server = pick(r, SERVERS);
  const path = pick(r, PATHS);
  const req = `request: "${pick(r, ["GET", "POST", "HEAD"])} ${path} HTTP/${pick(r, ["1.1", "2.0", "1.0"])}", host: "${server}"`;
  const x = r();
  const excess = `${int(r, 0, 40)}.${String(int(r, 0, 999)).padStart(3, "0")}`;
  const zone = pick(r, ZONES);
  if (x < 0.4) return ["error", `*${conn} open() "/var/www/html${path}" failed (2: No such file or directory), client: ${client}, server: ${server}, ${req}`];
  if (x < 0.5) return ["error", `*${conn} upstream timed out (110: Connection timed out) while reading response header from upstream, client: ${client}, server: ${server}, ${req}, upstream: "http://127.0.0.1:8080${path}"`];
  if (x < 0.57) return ["crit", `*${conn} SSL_do_handshake() failed (SSL: error:0A00006C:SSL routines::bad key share) while SSL handshaking, client: ${client}, server: 0.0.0.0:443`];
  if (x < 0.63) return ["info", `*${conn} client ${client} closed keepalive connection`];
  if (x < 0.66) return ["notice", `signal ${pick(r, [17, 29])} (SIG${pick(r, ["CHLD", "IO"])}) received from ${int(r, 900, 2000)}`];
  if (x < 0.7) return ["warn", `*${conn} delaying request, excess: ${excess}, by zone "${zone}", client: ${client}, server: ${server}, ${req}`];
  if (x < 0.72) return ["error", `*${conn} limiting connections by zone "addr", client: ${client}, server: ${server}, ${req}`];
  if (x < 0.74) return ["error", `*${conn} limiting requests, dry run, excess: ${excess} by zone "${zone}", client: ${client}, server: ${server}, ${req}`];
  // a URI a client chose, holding the failure's words and another address
  if (x < 0.76) return ["error", `*${conn} open() "/var/www/html/q" failed (2: No such file or directory), client: ${client}, server: ${server}, request: "GET /q?limiting requests, excess: 9.999 by zone \\"one\\", client: 198.18.9.1, HTTP/1.1", host: "${server}"`];
  return [pick(r, ["error", "error", "warn"]), `*${conn} limiting requests, excess: ${excess} by zone "${zone}", client: ${client}, server: ${server}, ${req}${r() < 0.3 ? `, referrer: "https://${server}/"` : ""}`];
}

/** A busy nginx server's error.log of `lines` lines (about a quarter of them limit_req rejections). */
export function nginxErrorLog(lines: number, seed = 20): string {
  const r = random(seed);
  const now = clock(r);
  const workers = [int(r, 1000, 60000), int(r, 1000, 60000), int(r, 1000, 60000), int(r, 1000, 60000)];
  // the same clients come back: a few hundred addresses, a third of them IPv6
  const clients = Array.from({ length: 400 }, () => (r() < 0.3 ? v6(r) : v4(r)));
  const out: string[] = [];
  let conn = int(r, 1, 1_000_000);
  for (let i = 0; i < lines; i++) {
    conn += int(r, 1, 5);
    const pid = pick(r, workers);
    const [level, msg] = message(r, pick(r, clients), conn);
    out.push(`${now()} [${level}] ${pid}#${pid}: ${msg}`);
  }
  return `${out.join("\n")}\n`;
}
