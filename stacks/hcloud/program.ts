import type { Input, Output } from "@pulumi/pulumi";
import { hcloudDnsRecords, type HcloudDnsServer } from "../dns/hcloud-records.ts";
import { renderUserData } from "../pulumi/cloud-init.ts";
import { inboundRules } from "../pulumi/firewall.ts";
import type { CloudProgramArgs, CloudProgramOutputs, ServerOutput } from "../pulumi/outputs.ts";
import { pulumiSdk } from "../pulumi/sdk.ts";
import { hcloudSdk } from "./sdk.ts";
import type { HcloudServerSpec } from "./catalog.ts";

export type HcloudProgramArgs = CloudProgramArgs<HcloudServerSpec>;
export type HcloudProgramOutputs = CloudProgramOutputs;

/** Logical names of the per-location resources start with the location: `<location>-server`. */
export function hcloudResourceName(location: string, what: "server" | "ipv4" | "ipv6"): string {
  return `${location}-${what}`;
}

/**
 * The Hetzner Cloud stack of one deployment: one firewall and one SSH key shared by all servers,
 * and per location a server with two primary IPs (v4, v6) that outlive it, so the addresses
 * clients have in DRASYL_SUPER_PEERS stay when a server is replaced.
 *
 * Hetzner rejects a second resource of a kind with a name already taken in the project (409
 * uniqueness_error), and the engine creates a replacement before it deletes the old resource
 * unless told otherwise: every named resource here is either deleted before its replacement is
 * created, or (the firewall) named uniquely by the engine.
 */
export function hcloudProgram(args: HcloudProgramArgs): HcloudProgramOutputs {
  const pulumi = pulumiSdk();
  const hcloud = hcloudSdk();
  const common = { "managed-by": "drasyl-deploy", deployment: args.deployment };

  const sshKey = new hcloud.SshKey(
    "ssh-key",
    { name: `drasyl-deploy-${args.deployment}`, publicKey: args.sshPublicKey, labels: common },
    // A new deployment key replaces the key; Hetzner only copies keys into a server at creation,
    // so deleting the old one first affects no running server.
    { deleteBeforeReplace: true },
  );

  // No fixed name: the engine names it firewall-<random>, so a replacement can be created while the
  // old firewall still protects the servers (a firewall in use cannot be deleted first).
  const firewall = new hcloud.Firewall("firewall", {
    labels: common,
    rules: inboundRules({
      udpPort: args.ports.udp,
      tcpPort: args.ports.tcp,
      sshSources: args.sshSources,
      metrics: args.metrics,
    }).map((r) => ({
      direction: "in",
      protocol: r.protocol,
      ...(r.port === undefined ? {} : { port: String(r.port) }),
      sourceIps: r.sources,
      description: r.description,
    })),
  });

  const userData = renderUserData({ user: args.sshUser, authorizedKey: args.sshPublicKey });
  const dnsServers: HcloudDnsServer[] = [];

  const servers = args.servers.map((s) => {
    const labels = { ...common, region: s.location };
    const primaryIp = (type: "ipv4" | "ipv6") =>
      new hcloud.PrimaryIp(
        hcloudResourceName(s.location, type),
        {
          name: `${s.name}-${type}`,
          type,
          location: s.location,
          assigneeType: "server",
          // Kept when the server is deleted or replaced: the address belongs to the deployment.
          autoDelete: false,
          labels,
        },
        // Replaced only when its type or location changes, which gives a new address anyway; the
        // provider unassigns the old one from its server before deleting it.
        { deleteBeforeReplace: true },
      );
    const ipv4 = primaryIp("ipv4");
    const ipv6 = primaryIp("ipv6");
    const server = new hcloud.Server(
      hcloudResourceName(s.location, "server"),
      {
        name: s.name,
        serverType: s.serverType,
        image: s.image,
        location: s.location,
        sshKeys: [sshKey.id],
        firewallIds: [firewall.id.apply(Number)],
        publicNets: [
          { ipv4Enabled: true, ipv4: ipv4.id.apply(Number), ipv6Enabled: true, ipv6: ipv6.id.apply(Number) },
        ],
        userData,
        labels,
      },
      {
        // A primary IP can be assigned to one server only: the old server must go before the new
        // one takes its addresses (create-before-delete fails with primary_ip_already_assigned).
        deleteBeforeReplace: true,
        // Another server type replaces the server (same primary IPs; the installer reinstalls the
        // super peer and its identity from the local state). In place, the provider powers the
        // server off, changes the type and leaves it off; across architectures (cx/cpx <-> cax) it
        // cannot change the type at all.
        replaceOnChanges: ["serverType"],
        // A new image release or changed user data must not replace a running super peer: the
        // installer converges servers over SSH, cloud-init only matters at first boot.
        ignoreChanges: ["userData", "image"],
      },
    );
    dnsServers.push({
      name: s.name,
      location: s.location,
      ipv4: ipv4.ipAddress,
      ipv6: server.ipv6Address,
      ipv4Id: ipv4.id.apply(Number),
      ipv6Id: ipv6.id.apply(Number),
    });
    const out: { [K in keyof ServerOutput]: Input<ServerOutput[K]> } = {
      name: s.name,
      region: s.location,
      ipv4: server.ipv4Address,
      ipv6: server.ipv6Address,
      arch: s.arch,
      sshUser: args.sshUser,
    };
    return out;
  });

  if (args.dns) hcloudDnsRecords(hcloud, args.dns, dnsServers, common);

  return { servers: pulumi.output(servers) as Output<ServerOutput[]> };
}
