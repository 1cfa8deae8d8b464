import { validateResource } from "./resource-check.js";
import { CustomObjectsApi, KubeConfig, PatchStrategy, makeInformer, setHeaderOptions, type Informer, type KubernetesObject, type ObjectCache } from "@kubernetes/client-node";
import { API_VERSION, type HostRegistration, type Labels, type Resource } from "@fleetwall/api";
import { backoffMs } from "@fleetwall/runtime";
import type { Logger } from "pino";
import type { ManifestError, PolicySet } from "./manifests.js";
import type { ObjectStatus } from "./kube-status.js";
import { KubeApiError, kubeFailure } from "./kube-errors.js";
import { WorkQueue } from "./work-queue.js";
import { ensureFirewallHost } from "./kube-host-labels.js";

const GROUP = "fleetwall.io";
const VERSION = "v1alpha1";
export const PLURALS = ["firewallpolicies", "banlists", "firewallhosts"] as const;
export type Plural = (typeof PLURALS)[number];

export interface KubeSourceOptions {
  kubeconfig: KubeConfig;
  /** Every informer is replaced by a fresh list this often: a safety net under the watch. */
  relistMs: number;
  log: Logger;
  onPolicies: (set: PolicySet) => void;
  onHostLabels: (hostId: string, labels: Labels | null) => void;
  /** A FirewallHost was deleted (kubectl delete fwh): the operator forgets that host. */
  onHostDeleted?: (hostId: string) => void;
  /** The versions in force before this process started (the last-good bucket), for specs that are invalid now. */
  initial?: readonly Resource[];
}

/** Loads a kubeconfig file, or the in-cluster service account, or the default kubeconfig. */
export function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  return kc;
}

/** Restarts of a failed informer wait 500 ms, then twice as long each time, up to 30 s. */
const INFORMER_BACKOFF = { initialMs: 500, maxMs: 30_000 };

interface Watched {
  plural: Plural;
  informer: Informer<KubernetesObject> & ObjectCache<KubernetesObject>;
  /** Failures since it last listed: how long the next restart waits (the runtime's backoff). */
  failures: number;
  restart?: NodeJS.Timeout;
  /** Listed at least once: its cache holds the kind. */
  listed: boolean;
  /** The current informer of its kind (restarted after errors); a relist's fresh one is not, yet. */
  live: boolean;
  error?: unknown;
}

/**
 * The Kubernetes adapter: informers for FirewallPolicy, BanList and FirewallHost, hardened (an
 * informer that stops on an error is restarted with backoff; every informer is replaced by a fresh
 * list every `relistMs`), feeding a de-duplicating work queue that reconciles one key at a time
 * from the informer caches. Also creates FirewallHosts for registered agents and writes statuses.
 * The only controller file that talks to the API server.
 */
export class KubeSource {
  readonly api: CustomObjectsApi;
  readonly queue: WorkQueue;
  #watched = new Map<Plural, Watched>();
  #relist: NodeJS.Timeout | undefined;
  #stopped = false;
  /** The last valid version of each policy and ban list, and the resourceVersion it was read at. */
  #lastValid = new Map<string, { uid: string; resourceVersion: string | undefined; resource: Resource }>();
  /** Generation of each policy and ban list read, valid or not, by `<plural>/<name>`. */
  readonly generations = new Map<string, number>();
  informerRestarts = 0;
  relists = 0;

  /** `<Kind>/<name>` → the version in force when this process started. */
  readonly #initial: ReadonlyMap<string, Resource>;

  constructor(private readonly options: KubeSourceOptions) {
    this.#initial = new Map((options.initial ?? []).map((r) => [`${r.kind}/${r.metadata.name}`, r]));
    this.api = options.kubeconfig.makeApiClient(CustomObjectsApi);
    this.queue = new WorkQueue(
      (key) => this.#reconcile(key),
      (key, error, retryInMs) => options.log.warn({ key, err: error, retryInMs }, "reconcile failed; retrying"),
    );
  }

  /** Starts the informers and resolves once each has listed its kind. */
  async start(): Promise<void> {
    await Promise.all(PLURALS.map(async (plural) => this.#watched.set(plural, await this.#informer(plural, true))));
    for (const plural of PLURALS) this.queue.add(`${plural}/`);
    // a round that throws is logged: a rejection left unhandled would end the process
    this.#relist = setInterval(() => void this.#relistAll().catch((e: unknown) => this.options.log.warn({ err: e }, "relist failed; the current informers stay")), this.options.relistMs);
    this.#relist.unref();
  }

  /** Every kind listed at least once (a missing CRD or a forbidden list keeps this false). */
  get synced(): boolean {
    return PLURALS.every((p) => this.#watched.get(p)?.listed);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#relist);
    this.queue.stop();
    for (const w of this.#watched.values()) {
      clearTimeout(w.restart);
      await w.informer.stop();
    }
  }

  objects(plural: Plural): readonly KubernetesObject[] {
    return this.#watched.get(plural)?.informer.list() ?? [];
  }

  /**
   * A started informer for one kind. `live` (the current one) restarts itself after errors, with
   * backoff; a fresh one made by a relist only records its error, and the relist drops it.
   */
  async #informer(plural: Plural, live: boolean): Promise<Watched> {
    const path = `/apis/${GROUP}/${VERSION}/${plural}`;
    const list = async () => {
      const listed = await this.api.listClusterCustomObject({ group: GROUP, version: VERSION, plural });
      watched.listed = true;
      watched.failures = 0;
      // the whole kind again once the cache holds the list (an empty list fires no event)
      setImmediate(() => this.queue.add(`${plural}/`));
      return listed;
    };
    const informer = makeInformer(this.options.kubeconfig, path, list);
    const watched: Watched = { plural, informer, failures: 0, listed: false, live };
    const enqueue = (obj: KubernetesObject) => this.queue.add(`${plural}/${obj.metadata?.name ?? ""}`);
    informer.on("add", enqueue);
    informer.on("update", enqueue);
    informer.on("delete", (obj: KubernetesObject) => {
      enqueue(obj);
      // only the current informer's: a relist's fresh one, or a replaced one, reports no deletions of its own
      if (plural === "firewallhosts" && watched.live && !this.#stopped) this.options.onHostDeleted?.(obj.metadata?.name ?? "");
    });
    informer.on("connect", () => this.options.log.debug({ plural }, "watch connected"));
    // client-node's informer stops for good on any error but 410: start it again, with backoff
    // (reset by a successful list). The failure is one line: code, reason, object and the fix.
    informer.on("error", (error: unknown) => {
      watched.error = error;
      if (this.#stopped || !watched.live) return;
      watched.failures += 1;
      const retryInMs = backoffMs(watched.failures, INFORMER_BACKOFF);
      this.options.log.warn({ plural, ...kubeFailure(error, { verb: watched.listed ? "watch" : "list", resource: plural }), retryInMs }, "informer failed; restarting");
      clearTimeout(watched.restart);
      watched.restart = setTimeout(() => {
        this.informerRestarts += 1;
        informer.start().catch(() => undefined);
      }, retryInMs);
    });
    await informer.start();
    return watched;
  }

  /** Replaces each informer by a freshly listed one; the old one serves until the new one has listed. */
  async #relistAll(): Promise<void> {
    for (const plural of PLURALS) {
      if (this.#stopped) return;
      const fresh = await this.#informer(plural, false);
      if (!fresh.listed || this.#stopped) {
        await fresh.informer.stop();
        if (!this.#stopped) this.options.log.warn({ plural, ...kubeFailure(fresh.error, { verb: "list", resource: plural }) }, "relist failed; the current informer stays");
        continue;
      }
      const old = this.#watched.get(plural);
      fresh.live = true;
      this.#watched.set(plural, fresh);
      if (old) {
        old.live = false;
        clearTimeout(old.restart);
        await old.informer.stop();
      }
      this.relists += 1;
      this.queue.add(`${plural}/`);
    }
  }

  /** Reconciles one key from the caches. Policies and ban lists are compiled as a whole set. */
  async #reconcile(key: string): Promise<void> {
    const [plural, name] = key.split("/") as [Plural, string];
    if (plural === "firewallhosts") {
      if (!name) {
        for (const o of this.objects("firewallhosts")) this.options.onHostLabels(o.metadata?.name ?? "", (o.metadata?.labels ?? {}) as Labels);
        return;
      }
      const o = this.objects("firewallhosts").find((x) => x.metadata?.name === name);
      this.options.onHostLabels(name, o ? ((o.metadata?.labels ?? {}) as Labels) : null);
      return;
    }
    // not before both kinds are listed: an unlisted kind (its CRD missing, its list forbidden) is not "no policies"
    if (this.#watched.get("firewallpolicies")?.listed && this.#watched.get("banlists")?.listed) this.options.onPolicies(this.#policySet());
  }

  /**
   * Every FirewallPolicy and BanList, validated as the controller validates files. An object whose
   * current spec is invalid (old API servers ignore CEL rules) keeps its last valid version, and is
   * reported as an error naming the field.
   */
  #policySet(): PolicySet {
    const resources: Resource[] = [];
    const errors: ManifestError[] = [];
    const seen = new Set<string>();
    for (const plural of ["firewallpolicies", "banlists"] as const) {
      for (const o of this.objects(plural) as (KubernetesObject & { spec?: unknown })[]) {
        const name = o.metadata?.name ?? "";
        const key = `${plural}/${name}`;
        seen.add(key);
        this.generations.set(key, o.metadata?.generation ?? 1);
        const uid = o.metadata?.uid ?? "";
        const known = this.#lastValid.get(key);
        if (known && known.uid === uid && o.metadata?.resourceVersion && known.resourceVersion === o.metadata.resourceVersion) {
          // unchanged since it was read: the same object again, so compile keeps its IR (compile.ts)
          resources.push(known.resource);
          continue;
        }
        const doc = { apiVersion: API_VERSION, kind: o.kind, metadata: { name, labels: o.metadata?.labels, annotations: o.metadata?.annotations, generation: o.metadata?.generation ?? 1 }, spec: o.spec };
        const r = validateResource(doc);
        if (r.ok) {
          resources.push(r.resource);
          this.#lastValid.set(key, { uid, resourceVersion: o.metadata?.resourceVersion, resource: r.resource });
          continue;
        }
        errors.push({ file: "", kind: r.kind, name, errors: r.errors });
        // read valid in this process, else as the last controller had it in force (a restart between
        // an invalid edit and its repair must not drop the policy)
        const before = known && known.uid === uid ? known.resource : known ? undefined : this.#initial.get(`${plural === "firewallpolicies" ? "FirewallPolicy" : "BanList"}/${name}`);
        if (before) resources.push(before);
      }
    }
    for (const key of [...this.#lastValid.keys()]) if (!seen.has(key)) this.#lastValid.delete(key);
    for (const key of [...this.generations.keys()]) if (!seen.has(key)) this.generations.delete(key);
    return {
      policies: resources.filter((r) => r.kind === "FirewallPolicy"),
      banLists: resources.filter((r) => r.kind === "BanList"),
      errors,
    };
  }

  /**
   * Creates the FirewallHost of a registered agent, labelled as it proposes; later registrations
   * apply the labels the agent proposes when they change, and leave the operator's labels alone.
   */
  async ensureHost(reg: HostRegistration): Promise<void> {
    try {
      const existing = this.objects("firewallhosts").find((o) => o.metadata?.name === reg.hostId);
      await ensureFirewallHost(this.api, existing, reg, this.options.log);
    } catch (error) {
      if (error instanceof KubeApiError) throw error;
      throw new KubeApiError(kubeFailure(error, { verb: "patch", resource: "firewallhosts", name: reg.hostId }), error);
    }
  }

  /** The names of every FirewallHost in the cache. */
  hostNames(): string[] {
    return this.objects("firewallhosts").map((o) => o.metadata?.name ?? "");
  }

  /** An object's status as the cache holds it: null when it has none, undefined when there is no such object. */
  currentStatus(key: string): ObjectStatus | null | undefined {
    const [plural, name] = key.split("/") as [Plural, string];
    const o = this.objects(plural).find((x) => x.metadata?.name === name) as (KubernetesObject & { status?: ObjectStatus }) | undefined;
    return o ? (o.status ?? null) : undefined;
  }

  /**
   * Writes one object's status subresource (`<plural>/<name>`) with a merge patch; resolves to the
   * status the server stored (after pruning what its schema does not have).
   */
  async writeStatus(key: string, status: ObjectStatus): Promise<ObjectStatus | undefined> {
    const [plural, name] = key.split("/") as [Plural, string];
    try {
      const stored = (await this.api.patchClusterCustomObjectStatus(
        { group: GROUP, version: VERSION, plural, name, body: { status } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      )) as { status?: ObjectStatus } | undefined;
      return stored?.status;
    } catch (error) {
      throw new KubeApiError(kubeFailure(error, { verb: "patch", resource: `${plural}/status`, name }), error);
    }
  }
}
