import { ApiException } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { kubeFailure } from "./kube-errors.js";

// Status bodies as kube-apiserver v1.24 sends them.
const status = (code: number, reason: string, message: string, details?: object) => new ApiException(code, "Unknown API Status Code!", { kind: "Status", apiVersion: "v1", status: "Failure", message, reason, details, code }, {});

describe("Kubernetes API errors for people", () => {
  it("a missing lease namespace names the namespace, the flag and the fix", () => {
    const f = kubeFailure(status(404, "NotFound", 'namespaces "fleetwall" not found', { name: "fleetwall", kind: "namespaces" }), { verb: "create", resource: "leases", namespace: "fleetwall", name: "fleetwall-controller" });
    expect(f).toEqual({ code: 404, reason: "NotFound", object: "create fleetwall/leases/fleetwall-controller", error: 'namespaces "fleetwall" not found', fix: expect.stringContaining("kubectl create namespace fleetwall") });
    expect(f.fix).toContain("--lease-namespace");
  });

  it("a kind that is not served (its CRD missing) says to apply the CRDs first", () => {
    const f = kubeFailure(new ApiException(404, "Unknown API Status Code!", "404 page not found\n", {}), { verb: "list", resource: "firewallpolicies" });
    expect(f).toMatchObject({ code: 404, error: "404 page not found", fix: expect.stringContaining("kubectl apply -f crds/") });
    const create = kubeFailure(new ApiException(404, "Unknown API Status Code!", "404 page not found\n", {}), { verb: "create", resource: "firewallhosts", name: "web-1" });
    expect(create.fix).toContain("kubectl apply -f crds/");
    // an object that is gone is not a missing CRD
    const gone = kubeFailure(status(404, "NotFound", 'firewallhosts.fleetwall.io "web-1" not found', { name: "web-1", kind: "firewallhosts" }), { verb: "patch", resource: "firewallhosts/status", name: "web-1" });
    expect(gone).toEqual({ code: 404, reason: "NotFound", object: "patch firewallhosts/status/web-1", error: 'firewallhosts.fleetwall.io "web-1" not found' });
  });

  it("a forbidden verb names the verb, the resource and RBAC", () => {
    const f = kubeFailure(status(403, "Forbidden", 'firewallhosts.fleetwall.io "k1" is forbidden: User "system:serviceaccount:fw:fw" cannot delete resource "firewallhosts"'), { verb: "patch", resource: "firewallhosts/status", name: "k1" });
    expect(f).toMatchObject({ code: 403, reason: "Forbidden", object: "patch firewallhosts/status/k1" });
    expect(f.fix).toMatch(/^RBAC .*verb patch on firewallhosts\/status/);
  });

  it("a failed watch (statusCode) and a network error are one line each, without a stack", () => {
    const watch = Object.assign(new Error("Internal Server Error"), { statusCode: 500 });
    expect(kubeFailure(watch, { verb: "watch", resource: "banlists" })).toEqual({ code: 500, reason: undefined, object: "watch banlists", error: "Internal Server Error" });
    const net = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6443\n    at TCPConnectWrap"), { code: "ECONNREFUSED" });
    expect(kubeFailure(net, { verb: "get", resource: "leases", namespace: "fw", name: "l" }).error).toBe("connect ECONNREFUSED 127.0.0.1:6443");
  });
});
