// The Kubernetes adapter, a subpath of its own (`@fleetwall/controller/kube`): commands that do not
// talk to Kubernetes do not load its client.
export * from "./kube-source.js";
export * from "./kube-nodes.js";
export * from "./kube-errors.js";
export * from "./lease.js";
export * from "./lease-record.js";
export type { KubeConfig } from "@kubernetes/client-node";
