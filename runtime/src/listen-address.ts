/** `HOST:PORT` (`[V6]:PORT`; an empty host is every IPv4 interface) as node's `listen` takes it. */
export function parseListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(":");
  const host = listen.slice(0, i).replace(/^\[|\]$/g, "") || "0.0.0.0";
  return { host, port: Number(listen.slice(i + 1)) };
}
