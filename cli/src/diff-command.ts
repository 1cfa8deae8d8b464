import { createTwoFilesPatch } from "diff";
import { connect } from "@nats-io/transport-node";
import { connectOptions } from "@fleetwall/runtime";
import type { NatsAccess } from "./nats-access.js";
import { Kvm } from "@nats-io/kv";
import { DESIRED_BUCKET, DesiredState, HOSTS_BUCKET, HostRegistration, parseEnvelopeBytes, type RulesetIR } from "@fleetwall/api";
import { render, type Failsafe } from "@fleetwall/agent";
import { compile } from "@fleetwall/controller";
import { loadManifestFiles } from "./render-command.js";

export class HostUnknownError extends Error {
  override name = "HostUnknownError";
}

export class DesiredStateUnreadableError extends Error {
  override name = "DesiredStateUnreadableError";
}

/**
 * What would change on a host if these manifest files replaced the policies it gets now: a unified
 * diff of the nft script for its current desired state against the script compiled from the files.
 */
export async function diffForHost(opts: { access: NatsAccess; hostId: string; files: string[]; failsafe: Failsafe }): Promise<string> {
  const nc = await connect({ ...connectOptions(opts.access, "fleetwall-cli"), timeout: 3000 });
  let current: RulesetIR | undefined;
  let labels: Record<string, string>;
  let revision = 0;
  try {
    const kvm = new Kvm(nc);
    const hostEntry = await (await kvm.open(HOSTS_BUCKET, { bindOnly: true })).get(opts.hostId);
    if (!hostEntry || hostEntry.operation !== "PUT") throw new HostUnknownError(`host ${opts.hostId} has not registered`);
    labels = HostRegistration.parse(hostEntry.json()).labels;
    const desiredEntry = await (await kvm.open(DESIRED_BUCKET, { bindOnly: true })).get(opts.hostId);
    if (desiredEntry && desiredEntry.operation === "PUT") {
      const env = parseEnvelopeBytes(desiredEntry.value);
      if (!env.success) throw new DesiredStateUnreadableError(`the desired state of ${opts.hostId} in the bucket is ${env.error}`);
      const state = DesiredState.parse(JSON.parse(env.data.payload));
      current = state.ruleset;
      revision = state.revision;
    }
  } finally {
    await nc.close();
  }
  const policies = await loadManifestFiles(opts.files);
  const next = compile(policies, [{ id: opts.hostId, labels }]).hosts.get(opts.hostId)?.ruleset;
  const before = current ? render(current, opts.failsafe).script : "";
  const after = next ? render(next, opts.failsafe).script : "";
  if (before === after) return "";
  return createTwoFilesPatch(`${opts.hostId} (revision ${revision})`, `${opts.hostId} (from ${opts.files.join(", ")})`, before, after);
}
