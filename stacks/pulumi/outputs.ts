import type { Output } from "@pulumi/pulumi";
import type { DnsProgramArgs } from "../dns/program-args.ts";
import type { Server, ServerArch } from "../provider.ts";

/** What every cloud program is given; `Spec` is the cloud's own description of one server. */
export interface CloudProgramArgs<Spec> {
  deployment: string;
  /** One server per location or region. */
  servers: Spec[];
  sshUser: string;
  /** The deployment key's OpenSSH public key line. */
  sshPublicKey: string;
  /** CIDRs (v4 and v6) that may reach SSH. */
  sshSources: string[];
  ports: { udp: number; tcp: number };
  /** An exposed metrics endpoint and who may scrape it; absent: the port stays closed. */
  metrics?: { port: number; sources: string[] } | undefined;
  /** DNS records in the zone this cloud manages, when the config's dns.provider names it. */
  dns?: DnsProgramArgs | undefined;
}

export interface CloudProgramOutputs {
  servers: Output<ServerOutput[]>;
}

/** What the installer needs about one cloud server; each program's stack output `servers` is a list of these. */
export interface ServerOutput {
  name: string;
  region: string;
  ipv4: string;
  ipv6: string;
  arch: ServerArch;
  sshUser: string;
}

export class StackOutputError extends Error {
  override readonly name = "StackOutputError";
}

function isServerOutput(v: unknown): v is ServerOutput {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    typeof o.name === "string" &&
    typeof o.region === "string" &&
    typeof o.sshUser === "string" &&
    (o.arch === "x64" || o.arch === "arm64") &&
    (o.ipv4 === undefined || typeof o.ipv4 === "string") &&
    (o.ipv6 === undefined || typeof o.ipv6 === "string")
  );
}

/**
 * The stack output `servers` as the installer's Server model. SSH goes to the IPv4 address
 * (the operator's network may lack IPv6) and uses the deployment's own key.
 */
export function serversFromOutput(value: unknown, privateKeyPath: string): Server[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every(isServerOutput))
    throw new StackOutputError("the stack output `servers` has an unexpected shape; run `drasyl-deploy up` again");
  return value.map((s) => {
    const ipv4 = s.ipv4 || undefined;
    const ipv6 = s.ipv6 || undefined;
    const host = ipv4 ?? ipv6;
    if (!host)
      throw new StackOutputError(
        `server ${s.name} has no address in the stack outputs yet; run \`drasyl-deploy up\` again`,
      );
    return {
      name: s.name,
      region: s.region,
      ipv4,
      ipv6,
      arch: s.arch,
      ssh: { host, port: 22, user: s.sshUser, privateKeyPath },
    };
  });
}
