import type { EngineEvent } from "@pulumi/pulumi/automation/index.js";

/** Friendly names for the resource types of both programs; others show their type's last part. */
const KINDS: Record<string, string> = {
  "hcloud:index/server:Server": "server",
  "hcloud:index/primaryIp:PrimaryIp": "primary IP",
  "hcloud:index/firewall:Firewall": "firewall",
  "hcloud:index/sshKey:SshKey": "SSH key",
  "aws:ec2/vpc:Vpc": "VPC",
  "aws:ec2/subnet:Subnet": "subnet",
  "aws:ec2/internetGateway:InternetGateway": "internet gateway",
  "aws:ec2/routeTable:RouteTable": "route table",
  "aws:ec2/routeTableAssociation:RouteTableAssociation": "route table association",
  "aws:ec2/securityGroup:SecurityGroup": "security group",
  "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "firewall rule",
  "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "egress rule",
  "aws:ec2/keyPair:KeyPair": "key pair",
  "aws:ec2/instance:Instance": "instance",
  "aws:ec2/eip:Eip": "Elastic IP",
  "aws:ec2/eipAssociation:EipAssociation": "Elastic IP association",
  "pulumi:providers:aws": "AWS provider",
  "pulumi:providers:hcloud": "Hetzner provider",
};

const ACTIVE: Record<string, string> = {
  create: "creating",
  update: "updating",
  delete: "deleting",
  "create-replacement": "creating the replacement",
  "delete-replaced": "deleting the replaced",
  read: "reading",
  import: "importing",
};
const DONE: Record<string, string> = {
  create: "created",
  update: "updated",
  delete: "deleted",
  "create-replacement": "created the replacement",
  "delete-replaced": "deleted the replaced",
  read: "read",
  import: "imported",
};

/**
 * Steps that change nothing in the cloud. `up` and `destroy` refresh every resource first: a
 * refresh that finds drift shows as the update, replacement or create that follows it.
 */
const QUIET = new Set(["same", "refresh"]);

/**
 * A replacement is three steps: create-replacement and delete-replaced (in either order, by
 * deleteBeforeReplace) do the work, `replace` between them only marks it and carries the reason.
 * Progress shows the two that work, a preview the one with the reason.
 */
const REPLACE_MARK = "replace";
const REPLACE_HALVES = new Set(["create-replacement", "delete-replaced"]);

/** A resource URN's type and logical name: urn:pulumi:<stack>::<project>::<type>::<name>. */
export function parseUrn(urn: string): { type: string; name: string } {
  const parts = urn.split("::");
  const type = (parts[2] ?? "").split("$").at(-1) ?? "";
  return { type, name: parts.slice(3).join("::") };
}

export function resourceKind(type: string): string {
  return KINDS[type] ?? type.split(":").at(-1) ?? type;
}

/** Maps a resource's logical name to the server (region) it belongs to; undefined for shared resources. */
export type Owner = (logicalName: string) => string | undefined;

/** Owner by prefix: logical names of per-region resources start with `<region>-`. */
export function ownerByRegionPrefix(servers: { name: string; region: string }[]): Owner {
  const byLength = [...servers].sort((a, b) => b.region.length - a.region.length);
  return (logical) => byLength.find((s) => logical.startsWith(`${s.region}-`))?.name;
}

/** A diagnostic's message on one line: without colours, the "N errors occurred:" header and list bullets. */
function oneLine(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex -- terminal colour codes in the engine's messages
      .replace(/\u001b\[[0-9;]*m/g, "")
      .split("\n")
      .map((l) => l.trim().replace(/^\*\s+/, ""))
      .filter((l) => l.length > 0 && !/^\d+ errors? occurred:?$/.test(l))
      .join("; ")
      .slice(0, 400)
  );
}

export interface ProgressOptions {
  owner: Owner;
  /** Where shared resources (firewall, key, provider) report, e.g. "hcloud". */
  shared: string;
  onProgress: (server: string, message: string) => void;
}

/**
 * Turns the engine's event stream into per-region progress lines: one line when a resource
 * operation starts, one when it ends (with its duration) or fails, warnings and errors of the
 * resource, and a summary. Unchanged resources stay silent.
 */
export class EngineProgress {
  private readonly started = new Map<string, number>();
  /** URNs of servers (hcloud Server, EC2 Instance) created or replaced in this run. */
  readonly newServers = new Set<string>();
  readonly failed: string[] = [];
  private cancelAsked = false;
  private errored = false;

  constructor(private readonly o: ProgressOptions) {}

  /** The operator asked the engine to cancel (Ctrl-C): its closing CancelEvent then means a cancellation. */
  cancelRequested(): void {
    this.cancelAsked = true;
  }

  private where(urn: string | undefined): string {
    if (!urn) return this.o.shared;
    return this.o.owner(parseUrn(urn).name) ?? this.o.shared;
  }

  handle(e: EngineEvent): void {
    if (e.resourcePreEvent && !e.resourcePreEvent.planning) {
      const m = e.resourcePreEvent.metadata;
      if (QUIET.has(m.op) || m.op === REPLACE_MARK || m.type === "pulumi:pulumi:Stack") return;
      this.started.set(`${m.urn}\0${m.op}`, e.timestamp);
      this.o.onProgress(this.where(m.urn), `${ACTIVE[m.op] ?? m.op} ${resourceKind(m.type)} ${parseUrn(m.urn).name}`);
    } else if (e.resOutputsEvent && !e.resOutputsEvent.planning) {
      const m = e.resOutputsEvent.metadata;
      if (QUIET.has(m.op) || m.op === REPLACE_MARK || m.type === "pulumi:pulumi:Stack") return;
      const t0 = this.started.get(`${m.urn}\0${m.op}`);
      const took = t0 === undefined ? "" : ` (${Math.max(0, e.timestamp - t0)} s)`;
      if (
        (m.type === "hcloud:index/server:Server" || m.type === "aws:ec2/instance:Instance") &&
        ["create", "create-replacement"].includes(m.op)
      )
        this.newServers.add(m.urn);
      this.o.onProgress(
        this.where(m.urn),
        `${DONE[m.op] ?? m.op} ${resourceKind(m.type)} ${parseUrn(m.urn).name}${took}`,
      );
    } else if (e.resOpFailedEvent) {
      const m = e.resOpFailedEvent.metadata;
      this.failed.push(m.urn);
      this.errored = true;
      this.o.onProgress(this.where(m.urn), `FAILED to ${m.op} ${resourceKind(m.type)} ${parseUrn(m.urn).name}`);
    } else if (e.diagnosticEvent) {
      const d = e.diagnosticEvent;
      if (d.ephemeral || (d.severity !== "error" && d.severity !== "warning")) return;
      if (d.severity === "error") this.errored = true;
      // The engine's own closing words; the failure itself, or the cancellation, is reported on its own line.
      if (
        (!d.urn || parseUrn(d.urn).type === "pulumi:pulumi:Stack") &&
        d.severity === "error" &&
        /^(update|preview|destroy) (failed|canceled)\s*$/.test(d.message)
      )
        return;
      const text = oneLine(d.message);
      if (text) this.o.onProgress(this.where(d.urn), `${d.severity}: ${text}`);
    } else if (e.summaryEvent) {
      this.o.onProgress(
        this.o.shared,
        `engine done in ${e.summaryEvent.durationSeconds} s: ${formatChanges(e.summaryEvent.resourceChanges)}`,
      );
    } else if (e.cancelEvent) {
      // The engine ends every update with a CancelEvent, a successful one too: it is news only
      // when the operator cancelled or a failure made the engine stop starting new operations.
      if (this.cancelAsked) this.o.onProgress(this.o.shared, "engine: operation cancelled");
      else if (this.errored) this.o.onProgress(this.o.shared, "engine: operation cancelled after the failure");
    }
  }
}

/** "2 to create, 1 to update, 9 unchanged"-style summary of an OpMap. */
export function formatChanges(changes: Record<string, number | undefined>, future = false): string {
  const words: [string, string, string][] = [
    ["create", "to create", "created"],
    ["update", "to update", "updated"],
    ["replace", "to replace", "replaced"],
    ["delete", "to delete", "deleted"],
    ["same", "unchanged", "unchanged"],
  ];
  const parts = words.filter(([k]) => (changes[k] ?? 0) > 0).map(([k, f, p]) => `${changes[k]} ${future ? f : p}`);
  return parts.length > 0 ? parts.join(", ") : "no changes";
}

/** The lines `up --dry-run` prints for a preview: one per resource that would change, per server. */
export function previewLines(events: EngineEvent[], o: { owner: Owner; shared: string }): string[] {
  const lines: string[] = [];
  for (const e of events) {
    const m = e.resourcePreEvent?.metadata;
    if (!m || QUIET.has(m.op) || REPLACE_HALVES.has(m.op) || m.op === "read" || m.type === "pulumi:pulumi:Stack")
      continue;
    const { name } = parseUrn(m.urn);
    const diffs =
      m.op === "update" && m.diffs?.length
        ? ` (${m.diffs.join(", ")})`
        : m.op === "replace" && m.keys?.length
          ? ` (because of ${m.keys.join(", ")})`
          : "";
    lines.push(`${o.owner(name) ?? o.shared}: ${m.op} ${resourceKind(m.type)} ${name}${diffs}`);
  }
  const summary = events.find((e) => e.summaryEvent)?.summaryEvent;
  if (summary) lines.push(`${o.shared}: ${formatChanges(summary.resourceChanges, true)}`);
  return lines;
}
