import { CoreV1Api, makeInformer, type Informer, type KubeConfig, type V1Node } from "@kubernetes/client-node";
import { hostIdFromNodeName } from "@fleetwall/api";
import { backoffMs } from "@fleetwall/runtime";
import type { Logger } from "pino";
import { nodeAddresses, type NodeAddresses } from "./host-networks.js";
import { kubeFailure } from "./kube-errors.js";

const BACKOFF = { initialMs: 500, maxMs: 30_000 };

export interface NodeWatchOptions {
  kubeconfig: KubeConfig;
  log: Logger;
  /** A Node's addresses, by the host id it is (null: the Node is gone). */
  onNode: (hostId: string, node: NodeAddresses | null) => void;
  /**
   * Called once: when the Nodes were first listed, or when the first list failed (then registered
   * addresses are judged by the host networks until a list succeeds; the log says why).
   */
  onSettled: () => void;
}

/**
 * Follows the cluster's Nodes: each Node is the host whose id its name gives (`hostIdFromNodeName`,
 * as the chart's agents derive theirs), and its `status.addresses` are that host's own. The informer
 * is started again after any error, with backoff.
 */
export class NodeWatch {
  #informer: Informer<V1Node> | undefined;
  #restart: NodeJS.Timeout | undefined;
  #failures = 0;
  #stopped = false;
  #settled = false;
  listed = false;
  restarts = 0;

  constructor(private readonly options: NodeWatchOptions) {}

  async start(): Promise<void> {
    const api = this.options.kubeconfig.makeApiClient(CoreV1Api);
    const list = async () => {
      const listed = await api.listNode();
      this.listed = true;
      this.#failures = 0;
      this.#settle();
      return listed;
    };
    const informer = makeInformer(this.options.kubeconfig, "/api/v1/nodes", list);
    this.#informer = informer;
    const seen = (n: V1Node) => {
      const name = n.metadata?.name ?? "";
      const id = hostIdFromNodeName(name);
      if (id) this.options.onNode(id, nodeAddresses(name, n.status?.addresses));
    };
    informer.on("add", seen);
    informer.on("update", seen);
    informer.on("delete", (n: V1Node) => {
      const id = hostIdFromNodeName(n.metadata?.name ?? "");
      if (id) this.options.onNode(id, null);
    });
    informer.on("error", (error: unknown) => this.#failed(informer, error));
    await informer.start().catch((error: unknown) => this.#failed(informer, error));
  }

  #failed(informer: Informer<V1Node>, error: unknown): void {
    if (this.#stopped) return;
    this.#failures += 1;
    const retryInMs = backoffMs(this.#failures, BACKOFF);
    const fields = { ...kubeFailure(error, { verb: this.listed ? "watch" : "list", resource: "nodes" }), retryInMs };
    if (!this.#settled) this.options.log.warn(fields, "nodes not listed: registered addresses are judged by the host networks until they are");
    else this.options.log.warn(fields, "node informer failed; restarting");
    this.#settle();
    clearTimeout(this.#restart);
    this.#restart = setTimeout(() => {
      this.restarts += 1;
      informer.start().catch((e: unknown) => this.#failed(informer, e));
    }, retryInMs);
  }

  #settle(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.options.onSettled();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restart);
    await this.#informer?.stop();
  }
}
