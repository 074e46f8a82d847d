import { stringify } from "yaml";
import { AWS_REGIONS } from "../../stacks/aws/regions.ts";
import { HCLOUD_LOCATIONS, isHcloudLocation } from "../../stacks/hcloud/catalog.ts";
import { type InitAnswers, selectedKinds } from "./answers.ts";

/** One YAML scalar or flow value, quoted only where YAML needs it. */
function v(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(v).join(", ")}]`;
  return stringify(value, { lineWidth: 0 }).trimEnd();
}

/** "key: value", with the comment aligned after it. */
function line(indent: string, key: string, value: unknown, comment?: string): string {
  const text = `${indent}${key}: ${v(value)}`;
  return comment ? `${text.padEnd(40)} # ${comment}` : text;
}

/** Fields kept from an earlier file, written back as block YAML at the given indent. */
function block(fields: Record<string, unknown>, indent: string): string[] {
  return stringify(fields, { lineWidth: 0 })
    .trimEnd()
    .split("\n")
    .map((l) => indent + l);
}

/** The environment variables `up` needs for these targets: the file names them, never their values. */
export function secretsFor(a: InitAnswers): string[] {
  const lines: string[] = [];
  if (a.hcloud) lines.push("HCLOUD_TOKEN               Hetzner Cloud API token (Read & Write)");
  if (a.aws) lines.push("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE");
  if (a.hcloud || a.aws) lines.push("PULUMI_CONFIG_PASSPHRASE   encrypts the secrets in the Pulumi state (keep it)");
  return lines;
}

/** drasyl-deploy.yaml with a comment per field, as `init` writes it; `up` reads it back. */
export function renderConfig(a: InitAnswers): string {
  const out: string[] = [
    "# drasyl-deploy configuration, written by `drasyl-deploy init`. Apply it with `drasyl-deploy up`.",
  ];
  const secrets = secretsFor(a);
  if (secrets.length > 0) {
    out.push("# No secrets are kept in this file. Set these in the environment before `up`:");
    for (const s of secrets) out.push(`#   ${s}`);
  }
  out.push(
    "",
    "# Names the servers and the local state (identities); a-z, 0-9 and '-'.",
    `deployment: ${v(a.deployment)}`,
    "# All super peers and nodes of one drasyl network share this id (nodes: DRASYL_NETWORK_ID).",
    `networkId: ${v(a.networkId)}`,
    "# UDP carries drasyl's traffic; TCP is the fallback for nodes whose network blocks UDP.",
    "ports:",
    `  udp: ${v(a.udpPort)}`,
    `  tcp: ${v(a.tcpPort)}`,
  );
  if (a.superPeer)
    out.push("# Super peer settings (see the README's drasyl-sp table).", "superPeer:", ...block(a.superPeer, "  "));
  out.push("# Where the super peers run; one server per region.", "targets:");
  for (const kind of selectedKinds(a)) {
    if (kind === "hcloud" && a.hcloud) {
      const where = a.hcloud.locations
        .map((l) => `${l} ${isHcloudLocation(l) ? HCLOUD_LOCATIONS[l] : ""}`.trim())
        .join("; ");
      out.push(
        "  # Hetzner Cloud, created with Pulumi (token: HCLOUD_TOKEN).",
        "  - kind: hcloud",
        `    # ${where}`,
        `    locations: ${v(a.hcloud.locations)}`,
      );
      if (a.hcloud.serverType)
        out.push("    # The server type of every location.", `    serverType: ${v(a.hcloud.serverType)}`);
      else
        out.push(
          "    # serverType: unset, the smallest shared-CPU type of each location (cx23 in the EU, cpx22 elsewhere).",
        );
      if (a.hcloud.kept) out.push(...block(a.hcloud.kept, "    "));
    } else if (kind === "aws" && a.aws) {
      const where = a.aws.regions.map((r) => `${r} ${AWS_REGIONS[r] ?? ""}`.trim()).join("; ");
      out.push(
        "  # AWS EC2, created with Pulumi (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE).",
        "  - kind: aws",
        `    # ${where}`,
        `    regions: ${v(a.aws.regions)}`,
      );
      if (a.aws.instanceType)
        out.push(
          "    # Graviton types (t4g, m7g, ...) make arm64 servers.",
          `    instanceType: ${v(a.aws.instanceType)}`,
        );
      else out.push("    # instanceType: unset, t3.micro.");
      if (a.aws.kept) out.push(...block(a.aws.kept, "    "));
    } else if (kind === "existing" && a.existing) {
      out.push(
        "  # Servers you already have: drasyl-deploy installs over SSH and never deletes them.",
        "  - kind: existing",
        "    servers:",
      );
      for (const s of a.existing.servers) {
        out.push(
          line("      - ", "name", s.name, "names the identity; 1-32 of a-z, 0-9, '-'"),
          line("        ", "region", s.region, "shown by status"),
          line("        ", "host", s.host, "IP or DNS name to connect to"),
        );
        if (s.dnsName) out.push(line("        ", "dnsName", s.dnsName, "what clients get in DRASYL_SUPER_PEERS"));
        out.push(
          line("        ", "sshPort", s.sshPort),
          line("        ", "user", s.user, "root, or a user with passwordless sudo"),
        );
        out.push(
          s.privateKey
            ? line("        ", "privateKey", s.privateKey)
            : "        # privateKey: unset, the keys of ssh-agent ($SSH_AUTH_SOCK) are used",
        );
        if (s.hostKey)
          out.push(
            "        # The SSH host key pinned during init: a server offering another one stops `up`.",
            line("        ", "hostKey", s.hostKey),
          );
      }
    } else if (kind === "local" && a.local) {
      out.push(
        "  # Lab servers on this machine (Debian in systemd-nspawn; root).",
        "  - kind: local",
        `    regions: ${v(a.local.regions)}`,
      );
    }
  }
  return `${out.join("\n")}\n`;
}
