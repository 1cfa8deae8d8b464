import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import { createFleet, type Fleet } from "../harness/fleet.js";

// TLS to NATS with client certificates: a CA made for this test signs the server's certificate (for
// the bridge address) and the clients' one; controller, agent and CLI connect with --nats-ca,
// --nats-cert and --nats-key to a tls:// URL.
describe("TLS to NATS", () => {
  const pki = mkdtempSync(join(tmpdir(), "fleetwall-tls-"));
  const f = (name: string) => join(pki, name);
  const NAME = "nats.fleetwall.test";
  // nats.js passes tls options on to node:tls, whose servername its types do not list
  const named = { servername: NAME };
  const other = { servername: "other.test" };
  const tlsArgs = ["--nats-ca", f("ca.pem"), "--nats-cert", f("client.pem"), "--nats-key", f("client-key.pem"), "--nats-tls-name", NAME];
  let fleet: Fleet;

  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: ["ignore", "pipe", "pipe"] });
  const issue = (name: string, ext: string) => {
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f(`${name}-key.pem`), "-out", f(`${name}.csr`), "-subj", `/CN=${name}`);
    writeFileSync(f(`${name}.ext`), ext);
    openssl("x509", "-req", "-in", f(`${name}.csr`), "-CA", f("ca.pem"), "-CAkey", f("ca-key.pem"), "-CAcreateserial", "-out", f(`${name}.pem`), "-days", "1", "-extfile", f(`${name}.ext`));
  };

  beforeAll(async () => {
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f("ca-key.pem"), "-out", f("ca.pem"), "-days", "1", "-subj", "/CN=fleetwall-test-ca");
    issue("client", "extendedKeyUsage=clientAuth\n");
    fleet = await createFleet([{ id: "s1", labels: "role=any" }], {
      nats: {
        scheme: "tls",
        config: (address) => {
          issue("server", `subjectAltName=DNS:${NAME},IP:${address}\nextendedKeyUsage=serverAuth\n`);
          return `tls {\n  cert_file: "${f("server.pem")}"\n  key_file: "${f("server-key.pem")}"\n  ca_file: "${f("ca.pem")}"\n  verify: true\n}\n`;
        },
        clientArgs: tlsArgs,
      },
    });
    fleet.writePolicy("base.yaml", "apiVersion: fleetwall.io/v1alpha1\nkind: FirewallPolicy\nmetadata: {name: base}\nspec:\n  hostSelector: {}\n  defaultInput: Accept\n");
    await fleet.startController(tlsArgs);
    for (const h of fleet.hosts) fleet.startAgent(h, tlsArgs);
  });

  afterAll(async () => {
    await fleet?.destroy();
    rmSync(pki, { recursive: true, force: true });
  });

  it("controller, agent and CLI work over TLS with client certificates", async () => {
    expect(fleet.nats.url).toMatch(/^tls:\/\//);
    await fleet.waitInSync();
    const status = await fleet.status();
    expect(status.hosts.map((h) => [h.id, h.inSync])).toEqual([["s1", true]]);
  });

  it("refuses clients without TLS, without the CA, or without a client certificate", async () => {
    const plain = fleet.nats.url.replace(/^tls:/, "nats:");
    await expect(connect({ servers: plain, reconnect: false, timeout: 2000 })).rejects.toThrow();
    await expect(connect({ servers: fleet.nats.url, reconnect: false, timeout: 2000, tls: {} })).rejects.toThrow();
    await expect(connect({ servers: fleet.nats.url, reconnect: false, timeout: 2000, tls: { caFile: f("ca.pem"), ...named } })).rejects.toThrow();
    // a certificate for another name is refused too
    await expect(connect({ servers: fleet.nats.url, reconnect: false, timeout: 2000, tls: { caFile: f("ca.pem"), certFile: f("client.pem"), keyFile: f("client-key.pem"), ...other } })).rejects.toThrow(/altnames/);
    const ok = await connect({ servers: fleet.nats.url, reconnect: false, timeout: 10_000, tls: { caFile: f("ca.pem"), certFile: f("client.pem"), keyFile: f("client-key.pem"), ...named } });
    await ok.close();
  });
});
