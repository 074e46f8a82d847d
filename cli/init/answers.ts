import type { DeployConfig } from "../config/schema.ts";
import { localRegion } from "../../stacks/local/config.ts";

/** The target kinds init offers, in the order it asks about them. */
export const TARGET_KINDS = ["hcloud", "aws", "existing", "local"] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

export const TARGET_TITLES: Record<TargetKind, string> = {
  hcloud: "Hetzner Cloud",
  aws: "AWS",
  existing: "servers you already have (SSH)",
  local: "local sandbox (lab servers on this machine, needs root)",
};

export interface ExistingServerAnswers {
  name: string;
  region: string;
  host: string;
  sshPort: number;
  user: string;
  /** A private key file; undefined means the ssh-agent. */
  privateKey?: string;
  /** The host key the operator pinned during init ("<type> <base64>"). */
  hostKey?: string;
  dnsName?: string;
}

/** Fields of a target init does not ask about but keeps from an existing file (image, allowSsh, ...). */
type Kept = Record<string, unknown>;

/** Everything init asks, in a shape independent of prompts and flags. */
export interface InitAnswers {
  deployment: string;
  networkId: number;
  udpPort: number;
  tcpPort: number;
  hcloud?: { locations: string[]; serverType?: string; kept?: Kept };
  aws?: { regions: string[]; instanceType?: string; kept?: Kept };
  existing?: { servers: ExistingServerAnswers[] };
  local?: { regions: string[] };
  /** The superPeer section of an existing file, kept as it was. */
  superPeer?: Kept;
}

export function selectedKinds(a: InitAnswers): TargetKind[] {
  return TARGET_KINDS.filter((k) => a[k] !== undefined);
}

const HCLOUD_ASKED = new Set(["kind", "locations", "serverType"]);
const AWS_ASKED = new Set(["kind", "regions", "instanceType"]);

function kept(raw: Record<string, unknown>, asked: Set<string>): Kept | undefined {
  const rest = Object.fromEntries(Object.entries(raw).filter(([k, v]) => !asked.has(k) && v !== undefined));
  return Object.keys(rest).length > 0 ? rest : undefined;
}

/**
 * The answers an existing file implies, offered as defaults on a re-run. Takes the file as written
 * (not the parsed config with its defaults filled in), so a re-run writes back no more than was there.
 */
export function answersFromConfig(config: DeployConfig, raw: Record<string, unknown>): InitAnswers {
  const a: InitAnswers = {
    deployment: config.deployment,
    networkId: config.networkId,
    udpPort: config.ports.udp,
    tcpPort: config.ports.tcp,
  };
  if (raw.superPeer && typeof raw.superPeer === "object") a.superPeer = raw.superPeer as Kept;
  const rawTargets = Array.isArray(raw.targets) ? (raw.targets as Record<string, unknown>[]) : [];
  config.targets.forEach((t, i) => {
    const r = rawTargets[i] ?? {};
    switch (t.kind) {
      case "local":
        a.local = { regions: [...(a.local?.regions ?? []), ...t.regions.map(localRegion)] };
        break;
      case "existing":
        a.existing = {
          servers: [
            ...(a.existing?.servers ?? []),
            ...t.servers.map((s) => ({
              name: s.name,
              region: s.region,
              host: s.host,
              sshPort: s.sshPort,
              user: s.user,
              privateKey: s.privateKey,
              hostKey: s.hostKey,
              dnsName: s.dnsName,
            })),
          ],
        };
        break;
      case "hcloud":
        a.hcloud = {
          locations: t.locations.map((l) => (typeof l === "string" ? l : l.location)),
          serverType: t.serverType,
          kept: kept(r, HCLOUD_ASKED),
        };
        break;
      case "aws":
        a.aws = {
          regions: t.regions.map((x) => (typeof x === "string" ? x : x.region)),
          instanceType: t.instanceType,
          kept: kept(r, AWS_ASKED),
        };
        break;
    }
  });
  return a;
}

/** The config object the answers stand for: the input to the config schema, with nothing secret in it. */
export function configFromAnswers(a: InitAnswers): Record<string, unknown> {
  const targets: Record<string, unknown>[] = [];
  for (const kind of selectedKinds(a)) {
    switch (kind) {
      case "hcloud":
        if (a.hcloud)
          targets.push({
            kind,
            locations: a.hcloud.locations,
            ...(a.hcloud.serverType ? { serverType: a.hcloud.serverType } : {}),
            ...a.hcloud.kept,
          });
        break;
      case "aws":
        if (a.aws)
          targets.push({
            kind,
            regions: a.aws.regions,
            ...(a.aws.instanceType ? { instanceType: a.aws.instanceType } : {}),
            ...a.aws.kept,
          });
        break;
      case "existing":
        if (a.existing) {
          targets.push({
            kind,
            servers: a.existing.servers.map((s) => ({
              name: s.name,
              region: s.region,
              host: s.host,
              ...(s.dnsName ? { dnsName: s.dnsName } : {}),
              sshPort: s.sshPort,
              user: s.user,
              ...(s.privateKey ? { privateKey: s.privateKey } : {}),
              ...(s.hostKey ? { hostKey: s.hostKey } : {}),
            })),
          });
        }
        break;
      case "local":
        if (a.local) targets.push({ kind, regions: a.local.regions });
        break;
    }
  }
  return {
    deployment: a.deployment,
    networkId: a.networkId,
    ports: { udp: a.udpPort, tcp: a.tcpPort },
    ...(a.superPeer ? { superPeer: a.superPeer } : {}),
    targets,
  };
}

/** A server name from what the operator typed as host: its first DNS label, or the IP with dashes. */
export function serverNameFromHost(host: string): string {
  const base = /[a-zA-Z]/.test(host) && !host.includes(":") ? (host.split(".")[0] ?? host) : host;
  const name = base
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 32)
    .replace(/-+$/, "");
  return name || "server";
}

/** A random network id: positive, so it reads the same everywhere it is typed. */
export function randomNetworkId(random: () => number = Math.random): number {
  return 2 + Math.floor(random() * 0x7ffffffd);
}
