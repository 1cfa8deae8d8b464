/** What was being done when a Kubernetes API call failed. */
export interface KubeCall {
  verb: "get" | "list" | "watch" | "create" | "update" | "patch";
  /** The resource (plural), with its subresource: `firewallpolicies/status`. */
  resource: string;
  namespace?: string;
  name?: string;
}

/**
 * A failed Kubernetes API call as a person needs it, in one log line: the HTTP code, the server's
 * reason and message, the object, and what to do about it when that is known. No stack.
 */
export interface KubeFailure {
  code: number | undefined;
  reason: string | undefined;
  /** `verb resource[/name]` (namespaced: `verb namespace/resource/name`). */
  object: string;
  error: string;
  fix?: string;
}

/** The fields of a metav1.Status the API server sends with a failure. */
interface Status {
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; kind?: string };
}

function parseStatus(body: unknown): Status | undefined {
  if (typeof body === "string") {
    try {
      return parseStatus(JSON.parse(body));
    } catch {
      return { message: body.trim().split("\n")[0] };
    }
  }
  return body && typeof body === "object" ? (body as Status) : undefined;
}

/**
 * Reads an error of @kubernetes/client-node (ApiException: `code` and the Status `body`; a watch:
 * `statusCode`) or of the network, and says what fixes it.
 */
export function kubeFailure(error: unknown, call: KubeCall): KubeFailure {
  const e = (error ?? {}) as { code?: unknown; statusCode?: unknown; body?: unknown; message?: unknown };
  const code = typeof e.code === "number" ? e.code : typeof e.statusCode === "number" ? e.statusCode : undefined;
  const status = code !== undefined ? parseStatus(e.body) : undefined;
  const firstLine = (typeof e.message === "string" ? e.message.split("\n")[0] : undefined) ?? String(error);
  const where = call.namespace ? `${call.namespace}/` : "";
  const failure: KubeFailure = {
    code,
    reason: status?.reason,
    object: `${call.verb} ${where}${call.resource}${call.name ? `/${call.name}` : ""}`,
    // an ApiException's own message is a dump of headers; a watch's is the HTTP status text
    error: status?.message ?? (code !== undefined && typeof e.statusCode !== "number" ? `HTTP ${code}` : firstLine),
  };
  const fix = fixFor(code, status, call);
  return fix ? { ...failure, fix } : failure;
}

function fixFor(code: number | undefined, status: Status | undefined, call: KubeCall): string | undefined {
  const base = call.resource.split("/")[0] ?? call.resource;
  if (code === 404 && status?.details?.kind === "namespaces") {
    const ns = status.details.name ?? call.namespace;
    return `namespace ${ns} does not exist: create it (kubectl create namespace ${ns}), or name an existing one with --lease-namespace`;
  }
  // a list, watch or create (calls on the collection) finds nothing only when the kind is not served:
  // its CRD is missing. The server then answers "404 page not found", not a Status naming an object.
  if (code === 404 && !status?.details?.kind && (call.verb === "list" || call.verb === "watch" || call.verb === "create")) {
    return `the ${base} kind is not served: install the CRDs first (kubectl apply -f crds/)`;
  }
  if (code === 403) {
    return `RBAC does not allow verb ${call.verb} on ${call.resource}: grant it to this account (the chart's ClusterRole and Role, charts/fleetwall/templates/rbac.yaml)`;
  }
  if (code === 401) return "the API server does not accept these credentials: check the kubeconfig or the service account token";
  return undefined;
}

/** A Kubernetes API call that failed, wrapped once at the adapter: log `failure` (one line), not the stack. */
export class KubeApiError extends Error {
  override name = "KubeApiError";
  constructor(readonly failure: KubeFailure, cause: unknown) {
    super(`${failure.object}: ${failure.code ?? ""} ${failure.error}`.replace(/ +/g, " "), { cause });
  }
}

/** Log fields for any error from the Kubernetes adapter: a KubeApiError's one line, else its message. */
export function kubeLogFields(error: unknown): KubeFailure | { error: string } {
  if (error instanceof KubeApiError) return error.failure;
  return { error: error instanceof Error ? error.message : String(error) };
}
