// Listens on the TCP and UDP ports given as arguments (tcp:80 udp:53) and answers each connection
// with its port number; run inside a host namespace by the tests. Prints "ready" when listening.
import { createServer } from "node:net";
import { createSocket } from "node:dgram";

const specs = process.argv.slice(2);
let pending = specs.length;
const ready = () => {
  pending -= 1;
  if (pending === 0) process.stdout.write("ready\n");
};
for (const spec of specs) {
  const [proto, portText] = spec.split(":");
  const port = Number(portText);
  if (proto === "tcp") {
    const srv = createServer((sock) => {
      sock.on("error", () => {});
      sock.end(`${port}\n`);
    });
    srv.listen({ port, host: "::", ipv6Only: false }, ready);
  } else {
    const sock = createSocket({ type: "udp6", ipv6Only: false });
    sock.on("message", (msg, rinfo) => sock.send(`${port}\n`, rinfo.port, rinfo.address));
    sock.bind(port, "::", ready);
  }
}
