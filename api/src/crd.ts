import { z } from "zod";
import { BanListSpec, BanListStatus } from "./banlist.js";
import type { CelRule } from "./cel.js";
import { FirewallHostStatus } from "./host.js";
import { GROUP, VERSION } from "./meta.js";
import { FirewallPolicySpec, FirewallPolicyStatus } from "./policy.js";
import { REFUSED_FIELDS } from "./strict.js";

type Node = Record<string, unknown>;

const SAFE_INT = 9007199254740991;

/**
 * Checks a branch of an int-or-string union carries. JSON schema applies each to values of its own
 * type only (a pattern to strings, a maximum to numbers), so they can sit side by side on one node.
 */
const SCALAR_CHECKS = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern"] as const;

/**
 * A field refused with a reason (see strict.ts) is declared, so that CEL can see it, and refused by
 * a rule on its object: the API server then says what the controller says.
 */
function refuseFields(node: Node): void {
  const refused = node[REFUSED_FIELDS] as Record<string, string> | undefined;
  delete node[REFUSED_FIELDS];
  if (!refused) return;
  const properties = { ...(node.properties as Node) };
  const rules = [...((node["x-kubernetes-validations"] as CelRule[] | undefined) ?? [])];
  for (const [key, reason] of Object.entries(refused)) {
    properties[key] = { type: "object", description: `Not supported: ${reason}.`, "x-kubernetes-preserve-unknown-fields": true };
    rules.push({ rule: `!has(self.${key})`, message: `${key}: not supported: ${reason}` });
  }
  node.properties = properties;
  node["x-kubernetes-validations"] = rules;
}

/**
 * Makes a JSON schema produced by zod structural, as the API server requires: a type on every node,
 * no anyOf of different shapes (int-or-string and preserve-unknown-fields where a field takes two),
 * no zod-internal bounds, no regex the API server would refuse. Pure.
 *
 * A strict zod object (`additionalProperties: false`) keeps unknown fields on the server
 * (`x-kubernetes-preserve-unknown-fields`) instead of pruning them: a 1.24 server prunes silently, and
 * a pruned `sorces` would widen a rule. Kept, the field reaches the controller, whose strict parse
 * reports it (`Ready=False, reason Invalid`, the field named) and enforces nothing of that version.
 */
export function structural(input: unknown): Node {
  const node = { ...(input as Node) };
  delete node.$schema;
  if (node.minimum === -SAFE_INT) delete node.minimum;
  if (node.maximum === SAFE_INT) delete node.maximum;
  // date-time: the server checks the format, and the pattern (zod's RFC 3339 regex, which RE2 reads alike) too
  if (node.additionalProperties === false) {
    delete node.additionalProperties;
    node["x-kubernetes-preserve-unknown-fields"] = true;
  }
  refuseFields(node);
  if (Array.isArray(node.anyOf)) {
    const branches = (node.anyOf as Node[]).map(structural);
    delete node.anyOf;
    const types = new Set(branches.map((b) => b.type));
    if (types.size === 1 && types.has("object")) {
      const properties: Node = {};
      for (const b of branches) Object.assign(properties, b.properties as Node);
      const keep = branches.some((b) => b["x-kubernetes-preserve-unknown-fields"]);
      return { ...node, type: "object", properties, ...(keep ? { "x-kubernetes-preserve-unknown-fields": true } : {}) };
    }
    if (types.size === 1) return { ...node, ...branches[0], ...(node.description ? { description: node.description } : {}) };
    if ([...types].every((t) => t === "integer" || t === "number" || t === "string")) {
      const bounds = Object.fromEntries(branches.flatMap((b) => SCALAR_CHECKS.filter((k) => b[k] !== undefined).map((k) => [k, b[k]])));
      return { ...node, ...bounds, "x-kubernetes-int-or-string": true };
    }
    // a string or an object (icmp): kept as it is, the string checked by a pattern (which objects pass), the
    // object by the controller. A 1.24 server checks neither properties nor CEL on such an untyped node
    // (tried: `icmp: 5` and `{preset: Pong}` were stored), so the rest is the controller's.
    const text = branches.find((b) => b.type === "string");
    const pattern = text?.enum ? `^(${(text.enum as string[]).map(escapeRegex).join("|")})$` : text?.pattern;
    return { ...node, ...(pattern ? { pattern } : {}), "x-kubernetes-preserve-unknown-fields": true };
  }
  if (node.properties) node.properties = Object.fromEntries(Object.entries(node.properties as Node).map(([k, v]) => [k, structural(v)]));
  if (node.items) node.items = structural(node.items);
  if (node.additionalProperties && typeof node.additionalProperties === "object") node.additionalProperties = structural(node.additionalProperties);
  if (node.type === "array" && isConditionList(node.items as Node | undefined)) {
    // metav1.Condition lists are maps keyed by type, as in every Kubernetes API
    Object.assign(node, { "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] });
  }
  return node;
}

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function isConditionList(items: Node | undefined): boolean {
  const props = items?.properties as Node | undefined;
  return !!props && ["type", "status", "reason", "message", "lastTransitionTime"].every((k) => k in props) && (items?.required as string[] | undefined)?.includes("type") === true;
}

function schemaOf(schema: z.ZodType): Node {
  return structural(z.toJSONSchema(schema, { target: "openapi-3.0", io: "input", reused: "inline", unrepresentable: "any" }));
}

interface Kind {
  kind: string;
  plural: string;
  short: string;
  description: string;
  spec: z.ZodType | undefined;
  status: z.ZodType;
  columns: { name: string; type: string; jsonPath: string; description?: string; priority?: number }[];
}

const age = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" };
const condition = (type: string) => `.status.conditions[?(@.type=="${type}")].status`;

const KINDS: Kind[] = [
  {
    kind: "FirewallPolicy",
    plural: "firewallpolicies",
    short: "fwp",
    description: "Firewall rules, baseline hardening and jails for the hosts its hostSelector selects.",
    spec: FirewallPolicySpec,
    status: FirewallPolicyStatus,
    columns: [
      { name: "Mode", type: "string", jsonPath: ".spec.mode" },
      { name: "Selected", type: "integer", jsonPath: ".status.selectedHosts" },
      { name: "Applied", type: "integer", jsonPath: ".status.appliedHosts" },
      { name: "Failed", type: "integer", jsonPath: ".status.failedHosts" },
      { name: "Ready", type: "string", jsonPath: condition("Ready") },
      age,
    ],
  },
  {
    kind: "BanList",
    plural: "banlists",
    short: "bl",
    description: "Addresses banned on (type Deny) or never banned by (type Allow) the hosts it selects.",
    spec: BanListSpec,
    status: BanListStatus,
    columns: [
      { name: "Type", type: "string", jsonPath: ".spec.type" },
      { name: "Entries", type: "integer", jsonPath: ".status.entries" },
      { name: "Active", type: "integer", jsonPath: ".status.active" },
      { name: "Hosts", type: "integer", jsonPath: ".status.hostsEnforcing" },
      age,
    ],
  },
  {
    kind: "FirewallHost",
    plural: "firewallhosts",
    short: "fwh",
    description: "One host running the fleetwall agent; its labels are what hostSelector matches.",
    spec: undefined,
    status: FirewallHostStatus,
    columns: [
      { name: "Labels", type: "string", jsonPath: ".metadata.labels", priority: 1 },
      { name: "Applied rev", type: "integer", jsonPath: ".status.appliedRevision" },
      { name: "In sync", type: "string", jsonPath: condition("InSync") },
      { name: "Last seen", type: "date", jsonPath: ".status.lastSeen" },
      { name: "Bans", type: "integer", jsonPath: ".status.activeBans" },
      age,
    ],
  },
];

/** The CustomResourceDefinitions of fleetwall, generated from the zod schemas (see scripts/gen-crds.ts). */
export function customResourceDefinitions(): Node[] {
  return KINDS.map((k) => ({
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${k.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: { kind: k.kind, listKind: `${k.kind}List`, plural: k.plural, singular: k.kind.toLowerCase(), shortNames: [k.short], categories: ["fleetwall"] },
      scope: "Cluster",
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: k.columns,
          schema: {
            openAPIV3Schema: {
              type: "object",
              description: k.description,
              properties: {
                apiVersion: { type: "string", description: "fleetwall.io/v1alpha1" },
                kind: { type: "string", description: k.kind },
                metadata: { type: "object" },
                ...(k.spec ? { spec: schemaOf(k.spec) } : { spec: { type: "object", description: "Empty: a host is described by its labels and status." } }),
                status: schemaOf(k.status),
              },
              ...(k.spec ? { required: ["spec"] } : {}),
            },
          },
        },
      ],
    },
  }));
}
