import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "./nats.js";
import { startProc, type Proc } from "./procs.js";
import { sh, waitFor } from "./sh.js";

/**
 * A real Kubernetes API server on a real etcd, started per test file, envtest style:
 * `KUBEBUILDER_ASSETS` names a directory holding `kube-apiserver` (and `etcd`, else etcd is taken
 * from PATH, as Debian's etcd-server installs it). Without the variable, `../shared/kube` beside the
 * repository is used when it exists. Ports are free loopback ports, so several test files can run
 * their own servers at once. CRDs are validated, defaulted and pruned by the real server; RBAC,
 * status subresources, watches and Leases are the real ones.
 */
export interface KubeApi {
  /** https://127.0.0.1:PORT */
  url: string;
  dir: string;
  /** The CA certificate that signed the server's certificate. */
  ca: string;
  /** A kubeconfig for the admin user (system:masters). */
  kubeconfig: string;
  /** A kubeconfig for a token user registered at start (`users`), e.g. `system:serviceaccount:NS:NAME`. */
  kubeconfigFor(user: string): string;
  /** The server's minor version (24 for v1.24.x). */
  minor: number;
  /** One HTTP request as admin (or as `user`); JSON bodies; resolves whatever the status. */
  request(method: string, path: string, body?: unknown, options?: { contentType?: string; accept?: string; user?: string }): Promise<{ status: number; body: any }>;
  /** Like `kubectl apply` of one object (create, or replace keeping resourceVersion); throws with the server's message on refusal. */
  apply(object: KubeObject): Promise<KubeObject>;
  /** Like apply, but resolves to the server's answer instead of throwing (for refusal tables). */
  tryApply(object: KubeObject): Promise<{ status: number; body: any }>;
  get(apiPath: string, name: string): Promise<KubeObject | undefined>;
  list(apiPath: string): Promise<KubeObject[]>;
  /** Like `kubectl label` (null removes). */
  label(apiPath: string, name: string, labels: Record<string, string | null>): Promise<KubeObject>;
  delete(apiPath: string, name: string): Promise<void>;
  /** Applies every document of a YAML file or stream, in order (CRDs: waits until they are Established). */
  applyYaml(text: string): Promise<void>;
  /** Sum of the server's `apiserver_request_total` for a verb, resource and subresource (from its /metrics). */
  requestCount(verb: string, resource: string, subresource?: string): Promise<number>;
  /** Every request the server audited (start with `audit: true`): who did what to which object, and the answer. */
  audit(): AuditEvent[];
  /** `kubectl get PLURAL` as kubectl prints it: the server's Table (the CRD's printer columns), as rows of cells by column name. */
  table(apiPath: string): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
}

/** One request in the API server's audit log (level Metadata; the last stage logged for it). */
export interface AuditEvent {
  user: { username: string; groups?: string[] };
  verb: string;
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string; apiGroup?: string };
  responseStatus?: { code?: number };
  requestURI: string;
}

export interface KubeApiOptions {
  /** Token users besides the admin, e.g. `system:serviceaccount:NS:NAME` (no groups: only RBAC grants count). */
  users?: string[];
  /**
   * CEL rules on CRDs (`x-kubernetes-validations`): on by default, as on 1.25 and later. Off, a 1.24
   * server is what it is by default: it ignores them, as every older server does.
   */
  cel?: boolean;
  /** Write an audit log of every request (see `audit()`). */
  audit?: boolean;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; generation?: number; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

const here = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(here, "../..");

/** Where kube-apiserver and etcd are, or a reason they are missing. */
export function kubeAssets(): { apiserver: string; etcd: string } | { missing: string } {
  const dir = process.env.KUBEBUILDER_ASSETS || (existsSync(join(REPO, "../shared/kube/kube-apiserver")) ? join(REPO, "../shared/kube") : "");
  if (!dir) return { missing: "KUBEBUILDER_ASSETS is not set (a directory with kube-apiserver and etcd)" };
  const apiserver = join(dir, "kube-apiserver");
  if (!existsSync(apiserver)) return { missing: `${apiserver} does not exist` };
  const local = join(dir, "etcd");
  const etcd = existsSync(local) ? local : (process.env.PATH ?? "").split(delimiter).map((p) => join(p, "etcd")).find((p) => existsSync(p));
  if (!etcd) return { missing: "etcd is neither in KUBEBUILDER_ASSETS nor on PATH (apt-get install etcd-server)" };
  return { apiserver, etcd };
}

/** The admin's token; other users' tokens are derived from their names. */
const ADMIN_TOKEN = "fleetwall-test-admin";
const tokenOf = (user: string) => `t-${Buffer.from(user).toString("hex")}`;

export async function startKubeApi(options: KubeApiOptions = {}): Promise<KubeApi> {
  const assets = kubeAssets();
  if ("missing" in assets) throw new Error(`no Kubernetes API server for the tests: ${assets.missing}`);
  const dir = mkdtempSync(join(tmpdir(), "fleetwall-kube-"));
  const pki = join(dir, "pki");
  mkdirSync(pki, { recursive: true });
  const procs: Proc[] = [];
  const stop = async () => {
    for (const p of procs.reverse()) await p.stop(5000);
    if (!process.env.FLEETWALL_KEEP_LOGS) rmSync(dir, { recursive: true, force: true });
  };
  try {
    await makePki(pki);
    const users = options.users ?? [];
    writeFileSync(join(pki, "tokens.csv"), [`${ADMIN_TOKEN},admin,admin,"system:masters"`, ...users.map((u) => `${tokenOf(u)},${u},${u}`)].join("\n") + "\n");
    const minor = serverMinor(assets.apiserver);
    const [etcdPort, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    procs.push(startProc("etcd", [assets.etcd, "--name", "test", "--data-dir", join(dir, "etcd-data"), "--listen-client-urls", etcdUrl, "--advertise-client-urls", etcdUrl, "--listen-peer-urls", `http://127.0.0.1:${etcdPeer}`, "--initial-advertise-peer-urls", `http://127.0.0.1:${etcdPeer}`, "--initial-cluster", `test=http://127.0.0.1:${etcdPeer}`, "--log-level", "warn", "--unsafe-no-fsync"], join(dir, "logs")));
    const apiArgs = [
      assets.apiserver, `--etcd-servers=${etcdUrl}`, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", `--secure-port=${apiPort}`,
      `--cert-dir=${pki}`, `--tls-cert-file=${join(pki, "apiserver.crt")}`, `--tls-private-key-file=${join(pki, "apiserver.key")}`,
      `--token-auth-file=${join(pki, "tokens.csv")}`, "--authorization-mode=RBAC",
      "--service-account-issuer=https://kubernetes.default.svc", `--service-account-key-file=${join(pki, "sa.pub")}`, `--service-account-signing-key-file=${join(pki, "sa.key")}`,
      "--service-cluster-ip-range=10.96.0.0/12", "--disable-admission-plugins=ServiceAccount", "--enable-priority-and-fairness=false", "--endpoint-reconciler-type=none", "--profiling=false",
      // CEL rules on CRDs are on by default from 1.25; 1.24 has them behind this gate (later versions refuse the gate's name)
      ...(minor < 25 && options.cel !== false ? ["--feature-gates=CustomResourceValidationExpressions=true"] : []),
      ...(options.audit ? [`--audit-policy-file=${auditPolicy(dir)}`, `--audit-log-path=${join(dir, "audit.log")}`, "--audit-log-format=json", "--audit-log-mode=blocking"] : []),
    ];
    const url = `https://127.0.0.1:${apiPort}`;
    const ca = join(pki, "ca.crt");
    const caText = readFileSync(ca);
    const tokenFor = (user?: string) => (user ? tokenOf(user) : ADMIN_TOKEN);
    const call: KubeApi["request"] = (method, path, body, opts = {}) =>
      new Promise((resolvePromise, reject) => {
        const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
        const req = request(`${url}${path}`, { method, ca: caText, headers: { Authorization: `Bearer ${tokenFor(opts.user)}`, Accept: opts.accept ?? "application/json", ...(payload !== undefined ? { "Content-Type": opts.contentType ?? "application/json" } : {}) }, timeout: 30_000 }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {
              /* plain text (metrics, readyz) */
            }
            resolvePromise({ status: res.statusCode ?? 0, body: parsed });
          });
        });
        req.on("error", reject);
        req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timed out`)));
        req.end(payload);
      });
    await waitFor("etcd", async () => (await fetch(`${etcdUrl}/health`)).ok, 30_000, 100);
    procs.push(startProc("kube-apiserver", apiArgs, join(dir, "logs")));
    await waitFor("kube-apiserver ready", async () => (await call("GET", "/readyz")).body === "ok", 60_000, 200).catch((e: Error) => {
      throw new Error(`${e.message}\n${procs.at(-1)?.log().slice(-2000)}`);
    });
    const kubeconfigFor = (user?: string) => {
      const file = join(dir, user ? `kubeconfig-${tokenOf(user)}` : "kubeconfig");
      writeFileSync(file, [
        "apiVersion: v1", "kind: Config",
        `clusters: [{name: test, cluster: {server: "${url}", certificate-authority: "${ca}"}}]`,
        `users: [{name: u, user: {token: "${tokenFor(user)}"}}]`,
        "contexts: [{name: test, context: {cluster: test, user: u}}]", "current-context: test", "",
      ].join("\n"));
      return file;
    };
    const api: KubeApi = {
      url, dir, ca, minor,
      kubeconfig: kubeconfigFor(),
      kubeconfigFor,
      request: call,
      async tryApply(object) {
        const base = collectionPath(object);
        const existing = await call("GET", `${base}/${object.metadata.name}`);
        if (existing.status === 404) return call("POST", base, object);
        const next = { ...object, metadata: { ...object.metadata, resourceVersion: existing.body.metadata.resourceVersion } };
        return call("PUT", `${base}/${object.metadata.name}`, next);
      },
      async apply(object) {
        const r = await api.tryApply(object);
        if (r.status >= 300) throw new Error(`apply ${object.kind} ${object.metadata.name}: ${r.status} ${r.body?.message ?? JSON.stringify(r.body)}`);
        return r.body as KubeObject;
      },
      async get(apiPath, name) {
        const r = await call("GET", `${apiPath}/${name}`);
        if (r.status === 404) return undefined;
        if (r.status >= 300) throw new Error(`get ${apiPath}/${name}: ${r.status} ${r.body?.message}`);
        return r.body as KubeObject;
      },
      async list(apiPath) {
        const r = await call("GET", apiPath);
        if (r.status >= 300) throw new Error(`list ${apiPath}: ${r.status} ${r.body?.message}`);
        return r.body.items as KubeObject[];
      },
      async label(apiPath, name, labels) {
        const r = await call("PATCH", `${apiPath}/${name}`, { metadata: { labels } }, { contentType: "application/merge-patch+json" });
        if (r.status >= 300) throw new Error(`label ${apiPath}/${name}: ${r.status} ${r.body?.message}`);
        return r.body as KubeObject;
      },
      async delete(apiPath, name) {
        const r = await call("DELETE", `${apiPath}/${name}`);
        if (r.status >= 300 && r.status !== 404) throw new Error(`delete ${apiPath}/${name}: ${r.status} ${r.body?.message}`);
      },
      async applyYaml(text) {
        const { parseAllDocuments } = await import("yaml");
        for (const doc of parseAllDocuments(text)) {
          const object = doc.toJS() as KubeObject | null;
          if (!object?.kind) continue;
          await api.apply(object);
          if (object.kind === "CustomResourceDefinition") {
            await waitFor(`CRD ${object.metadata.name} established`, async () => {
              const crd = await api.get("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", object.metadata.name);
              return (crd?.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions?.some((c) => c.type === "Established" && c.status === "True");
            }, 30_000, 100);
          }
        }
      },
      async requestCount(verb, resource, subresource = "") {
        const r = await call("GET", "/metrics");
        let sum = 0;
        for (const line of String(r.body).split("\n")) {
          if (!line.startsWith("apiserver_request_total{")) continue;
          const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
          if (labels.verb === verb && labels.resource === resource && (labels.subresource ?? "") === subresource) sum += Number(line.split(" ").at(-1));
        }
        return sum;
      },
      audit() {
        const file = join(dir, "audit.log");
        if (!existsSync(file)) return [];
        // one event per request: its last stage (a watch still open has only ResponseStarted)
        const events = new Map<string, AuditEvent>();
        for (const l of readFileSync(file, "utf8").split("\n").filter(Boolean)) {
          const e = JSON.parse(l) as AuditEvent & { auditID: string };
          events.set(e.auditID, e);
        }
        return [...events.values()];
      },
      async table(apiPath) {
        const r = await call("GET", apiPath, undefined, { accept: "application/json;as=Table;v=v1;g=meta.k8s.io" });
        if (r.status >= 300 || r.body?.kind !== "Table") throw new Error(`table ${apiPath}: ${r.status} ${r.body?.message ?? JSON.stringify(r.body)}`);
        const columns = (r.body.columnDefinitions as { name: string }[]).map((c) => c.name);
        return (r.body.rows as { cells: unknown[] }[]).map((row) => Object.fromEntries(columns.map((c, i) => [c, row.cells[i]])));
      },
      stop,
    };
    return api;
  } catch (e) {
    await stop();
    throw e;
  }
}

/** An audit policy that records every request at the Metadata level, when it starts answering (watches) and completes. */
function auditPolicy(dir: string): string {
  const file = join(dir, "audit-policy.yaml");
  writeFileSync(file, "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Metadata\n");
  return file;
}

/** `/apis/GROUP/VERSION[/namespaces/NS]/PLURAL` for an object (core kinds under /api/v1). */
export function collectionPath(object: KubeObject): string {
  const [group, version] = object.apiVersion.includes("/") ? object.apiVersion.split("/") : ["", object.apiVersion];
  const root = group ? `/apis/${group}/${version}` : `/api/${version}`;
  const ns = object.metadata.namespace ? `/namespaces/${object.metadata.namespace}` : "";
  return `${root}${ns}/${plural(object.kind)}`;
}

const IRREGULAR: Record<string, string> = { FirewallPolicy: "firewallpolicies", BanList: "banlists", FirewallHost: "firewallhosts", CustomResourceDefinition: "customresourcedefinitions" };
function plural(kind: string): string {
  return IRREGULAR[kind] ?? `${kind.toLowerCase()}${kind.endsWith("s") ? "es" : "s"}`;
}

function serverMinor(apiserver: string): number {
  const out = execFileSync(apiserver, ["--version"], { encoding: "utf8" });
  const m = /v1\.(\d+)/.exec(out);
  if (!m) throw new Error(`cannot read the version of ${apiserver}: ${out.trim()}`);
  return Number(m[1]);
}

async function makePki(pki: string): Promise<void> {
  const o = (args: string[]) => sh("openssl", args, { timeoutMs: 60_000 });
  await o(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=fleetwall-test-ca", "-keyout", join(pki, "ca.key"), "-out", join(pki, "ca.crt")]);
  await o(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kube-apiserver", "-keyout", join(pki, "apiserver.key"), "-out", join(pki, "apiserver.csr")]);
  writeFileSync(join(pki, "ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  await o(["x509", "-req", "-in", join(pki, "apiserver.csr"), "-CA", join(pki, "ca.crt"), "-CAkey", join(pki, "ca.key"), "-CAcreateserial", "-days", "30", "-extfile", join(pki, "ext"), "-out", join(pki, "apiserver.crt")]);
  await o(["genrsa", "-out", join(pki, "sa.key"), "2048"]);
  await o(["rsa", "-in", join(pki, "sa.key"), "-pubout", "-out", join(pki, "sa.pub")]);
}
