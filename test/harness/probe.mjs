// Tries TCP connections (and UDP request/answer) from inside a namespace; prints a JSON object
// "proto:host:port" -> "open" (the service answered), "refused" (TCP reset or ICMP unreachable) or
// "timeout" (dropped). Arguments: timeoutMs then targets like
// tcp:198.18.3.11:22 or udp:[2001:db8::11]:53, optionally @SOURCE to bind a source address.
import { connect } from "node:net";
import { createSocket } from "node:dgram";

const [timeoutText, ...targets] = process.argv.slice(2);
const timeout = Number(timeoutText);

function parse(target) {
  const [spec, source] = target.split("@");
  const m = /^(tcp|udp):\[?([^\]]+?)\]?:(\d+)$/.exec(spec);
  return { proto: m[1], host: m[2], port: Number(m[3]), source };
}

function tcp({ host, port, source }) {
  return new Promise((resolve) => {
    const sock = connect({ host, port, localAddress: source, timeout });
    let got = "";
    sock.on("data", (d) => (got += d));
    sock.on("end", () => resolve(got.trim() === String(port) ? "open" : "closed"));
    sock.on("timeout", () => { sock.destroy(); resolve("timeout"); });
    sock.on("error", (e) => resolve(e.code === "ECONNREFUSED" || e.code === "EHOSTUNREACH" ? "refused" : "timeout"));
  });
}

function udp({ host, port, source }) {
  return new Promise((resolve) => {
    const sock = createSocket(host.includes(":") ? "udp6" : "udp4");
    const done = (v) => { clearTimeout(t); sock.close(); resolve(v); };
    const t = setTimeout(() => done("timeout"), timeout);
    sock.on("message", (m) => done(m.toString().trim() === String(port) ? "open" : "closed"));
    sock.on("error", (e) => done(e.code === "ECONNREFUSED" ? "refused" : "timeout"));
    // a connected socket hears ICMP port unreachable (a Reject) as ECONNREFUSED
    sock.bind({ address: source }, () => sock.connect(port, host, (err) => (err ? done("timeout") : sock.send("hi"))));
  });
}

const results = await Promise.all(targets.map((t) => { const p = parse(t); return (p.proto === "tcp" ? tcp(p) : udp(p)).then((ok) => [t, ok]); }));
process.stdout.write(JSON.stringify(Object.fromEntries(results)) + "\n");
