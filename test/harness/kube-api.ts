import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A small Kubernetes API server for tests, speaking the protocol `@kubernetes/client-node` uses:
 * lists with a resourceVersion; watch streams (newline-delimited ADDED/MODIFIED/DELETED events) that
 * resume from a resourceVersion, and an ERROR event with code 410 once that version is compacted
 * away; the status subresource (status writes do not change `generation`, spec writes do); JSON
 * merge patches; and Leases. Cluster-scoped fleetwall.io kinds, namespaced Leases. No auth.
 */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; generation?: number; labels?: Record<string, string>; annotations?: Record<string, string>; creationTimestamp?: string; [k: string]: unknown };
  spec?: unknown;
  status?: unknown;
  [k: string]: unknown;
}

interface Event {
  rv: number;
  type: "ADDED" | "MODIFIED" | "DELETED";
  collection: string;
  object: KubeObject;
}

export interface FakeKubeApi {
  url: string;
  /** Writes a kubeconfig for this server and returns its path. */
  kubeconfig(dir: string): Promise<string>;
  get(collection: string, name: string): KubeObject | undefined;
  list(collection: string): KubeObject[];
  /** Like `kubectl apply`: creates or replaces the object (spec, labels, annotations). */
  apply(collection: string, object: KubeObject): KubeObject;
  /** Like `kubectl label`. */
  label(collection: string, name: string, labels: Record<string, string | null>): KubeObject;
  delete(collection: string, name: string): void;
  /** Ends every open watch stream, as an API server restart or a load balancer does. */
  dropWatches(): void;
  /** Forgets every event so far: a watch resuming from an older resourceVersion gets 410 Gone. */
  compact(): void;
  /** Answers watch requests with this HTTP status until cleared (an API server in trouble). */
  failWatches(status: number | undefined): void;
  /** Requests by method and path suffix (`PATCH status`), for checking write rates. */
  requests: { method: string; path: string; at: number }[];
  close(): Promise<void>;
}

/** `fleetwall.io/v1alpha1/<plural>` and `coordination.k8s.io/v1/namespaces/<ns>/leases` collections. */
const ROUTE = /^\/apis\/(?<group>fleetwall\.io\/v1alpha1|coordination\.k8s\.io\/v1)(?:\/namespaces\/(?<ns>[^/]+))?\/(?<plural>[a-z]+)(?:\/(?<name>[^/]+))?(?:\/(?<sub>status))?$/;

export async function startFakeKubeApi(): Promise<FakeKubeApi> {
  const store = new Map<string, Map<string, KubeObject>>();
  let rv = 1;
  let log: Event[] = [];
  let oldest = 1;
  const watchers = new Set<{ collection: string; res: ServerResponse }>();
  let watchFailure: number | undefined;
  const requests: FakeKubeApi["requests"] = [];

  const coll = (c: string) => {
    let m = store.get(c);
    if (!m) store.set(c, (m = new Map()));
    return m;
  };
  const emit = (collection: string, type: Event["type"], object: KubeObject) => {
    const e = { rv: Number(object.metadata.resourceVersion), type, collection, object };
    log.push(e);
    for (const w of watchers) if (w.collection === collection) w.res.write(`${JSON.stringify({ type, object })}\n`);
  };
  const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

  /** Stores a new version of an object: resourceVersion always, generation when the spec changed. */
  const put = (collection: string, next: KubeObject, before: KubeObject | undefined): KubeObject => {
    const stored = clone(next);
    stored.metadata.resourceVersion = String(++rv);
    stored.metadata.uid = before?.metadata.uid ?? randomUUID();
    stored.metadata.creationTimestamp = before?.metadata.creationTimestamp ?? new Date().toISOString();
    const specChanged = !before || JSON.stringify(before.spec) !== JSON.stringify(stored.spec);
    stored.metadata.generation = (before?.metadata.generation ?? 0) + (specChanged ? 1 : 0);
    coll(collection).set(stored.metadata.name, stored);
    emit(collection, before ? "MODIFIED" : "ADDED", stored);
    return stored;
  };

  const api: Omit<FakeKubeApi, "url" | "kubeconfig" | "close"> = {
    get: (c, name) => coll(c).get(name),
    list: (c) => [...coll(c).values()],
    apply(c, object) {
      const before = coll(c).get(object.metadata.name);
      const next = { ...clone(object), status: before?.status };
      if (!next.status) delete next.status;
      return put(c, next, before);
    },
    label(c, name, labels) {
      const before = coll(c).get(name);
      if (!before) throw new Error(`${c}/${name} not found`);
      const next = clone(before);
      next.metadata.labels = { ...next.metadata.labels };
      for (const [k, v] of Object.entries(labels)) {
        if (v === null) delete next.metadata.labels[k];
        else next.metadata.labels[k] = v;
      }
      return put(c, next, before);
    },
    delete(c, name) {
      const before = coll(c).get(name);
      if (!before) return;
      coll(c).delete(name);
      const gone = { ...clone(before), metadata: { ...before.metadata, resourceVersion: String(++rv) } };
      emit(c, "DELETED", gone);
    },
    dropWatches() {
      for (const w of watchers) w.res.end();
      watchers.clear();
    },
    compact() {
      log = [];
      oldest = rv + 1;
    },
    failWatches(status) {
      watchFailure = status;
    },
    requests,
  };

  const send = (res: ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const status = (res: ServerResponse, code: number, reason: string, message: string) =>
    send(res, code, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", reason, message, code });
  const body = async (req: IncomingMessage): Promise<unknown> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return chunks.length ? JSON.parse(Buffer.concat(chunks).toString("utf8")) : undefined;
  };
  /** RFC 7386 JSON merge patch. */
  const merge = (target: unknown, patch: unknown): unknown => {
    if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
    const out: Record<string, unknown> = typeof target === "object" && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete out[k];
      else out[k] = merge(out[k], v);
    }
    return out;
  };

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://x");
      const m = ROUTE.exec(url.pathname);
      requests.push({ method: req.method ?? "", path: url.pathname, at: Date.now() });
      if (!m?.groups) return status(res, 404, "NotFound", `no route ${url.pathname}`);
      const { group, ns, plural, name, sub } = m.groups as { group: string; ns?: string; plural: string; name?: string; sub?: string };
      const collection = ns ? `${plural}@${ns}` : plural;
      const items = coll(collection);
      const kindOf = () => ({ firewallpolicies: "FirewallPolicy", banlists: "BanList", firewallhosts: "FirewallHost", leases: "Lease" })[plural] ?? "Unknown";
      if (req.method === "GET" && !name && url.searchParams.get("watch") === "true") {
        if (watchFailure) return status(res, watchFailure, "InternalError", "watch refused by the test");
        const from = Number(url.searchParams.get("resourceVersion") || "0");
        res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
        res.flushHeaders();
        if (from && from < oldest - 1) {
          res.write(`${JSON.stringify({ type: "ERROR", object: { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: `too old resource version: ${from} (${oldest - 1})`, reason: "Expired", code: 410 } })}\n`);
          return res.end();
        }
        for (const e of log) if (e.collection === collection && e.rv > from) res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
        const w = { collection, res };
        watchers.add(w);
        req.on("close", () => watchers.delete(w));
        return;
      }
      if (req.method === "GET" && !name) {
        return send(res, 200, { apiVersion: group, kind: `${kindOf()}List`, metadata: { resourceVersion: String(rv) }, items: [...items.values()] });
      }
      if (req.method === "POST" && !name) {
        const obj = (await body(req)) as KubeObject;
        if (items.has(obj.metadata.name)) return status(res, 409, "AlreadyExists", `${plural} "${obj.metadata.name}" already exists`);
        if (ns) obj.metadata.namespace = ns;
        return send(res, 201, put(collection, { ...obj, apiVersion: obj.apiVersion ?? group, kind: obj.kind ?? kindOf() }, undefined));
      }
      const current = name ? items.get(name) : undefined;
      if (!current) return status(res, 404, "NotFound", `${plural} "${name}" not found`);
      if (req.method === "GET") return send(res, 200, current);
      if (req.method === "DELETE") {
        api.delete(collection, current.metadata.name);
        return send(res, 200, current);
      }
      const input = (await body(req)) as KubeObject;
      if (req.method === "PUT") {
        if (input.metadata?.resourceVersion && input.metadata.resourceVersion !== current.metadata.resourceVersion) {
          return status(res, 409, "Conflict", `the object has been modified; please apply your changes to the latest version`);
        }
        const next = sub ? { ...clone(current), status: input.status } : { ...input, status: current.status };
        return send(res, 200, put(collection, next, current));
      }
      if (req.method === "PATCH") {
        const type = req.headers["content-type"] ?? "";
        if (!type.startsWith("application/merge-patch+json")) return status(res, 415, "UnsupportedMediaType", `patch type ${type} not supported here`);
        const patched = merge(current, input) as KubeObject;
        // the status subresource changes only status; the main resource never changes status
        const next = sub ? { ...clone(current), status: patched.status } : { ...patched, status: current.status };
        return send(res, 200, put(collection, next, current));
      }
      return status(res, 405, "MethodNotAllowed", `${req.method} not allowed`);
    })().catch((e: unknown) => {
      if (!res.headersSent) status(res, 500, "InternalError", String(e));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    ...api,
    url,
    async kubeconfig(dir) {
      const { writeFile } = await import("node:fs/promises");
      const path = `${dir}/kubeconfig`;
      await writeFile(path, `apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {server: "${url}", insecure-skip-tls-verify: true}\nusers:\n- name: test\n  user: {}\ncontexts:\n- name: fake\n  context: {cluster: fake, user: test}\ncurrent-context: fake\n`);
      return path;
    },
    async close() {
      api.dropWatches();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
