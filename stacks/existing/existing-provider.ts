import { homedir } from "node:os";
import type { ExistingTargetConfig } from "./config.ts";
import type { Provider, Server } from "../provider.ts";

function expandHome(path: string): string {
  return path === "~" || path.startsWith("~/") ? homedir() + path.slice(1) : path;
}

/** Servers the operator already has: nothing to create or destroy, only to describe. */
export class ExistingProvider implements Provider {
  readonly kind = "existing";
  /** Nothing to create or remove: destroy leaves these servers and their pinned host keys alone. */
  readonly createsServers = false;
  private readonly servers: Server[];

  constructor(target: ExistingTargetConfig) {
    this.servers = target.servers.map((s) => ({
      name: s.name,
      region: s.region,
      ipv4: /^\d+\.\d+\.\d+\.\d+$/.test(s.host) ? s.host : undefined,
      ipv6: s.ipv6 ?? (s.host.includes(":") ? s.host : undefined),
      dnsName: s.dnsName ?? (/[a-zA-Z]/.test(s.host) && !s.host.includes(":") ? s.host : undefined),
      ssh: {
        host: s.host,
        port: s.sshPort,
        user: s.user,
        privateKeyPath: s.privateKey ? expandHome(s.privateKey) : undefined,
      },
      hostKey: s.hostKey,
    }));
  }

  async preview(): Promise<string[]> {
    return this.servers.map(
      (s) => `${s.name}: existing server ${s.ssh.user}@${s.ssh.host}:${s.ssh.port} (nothing to create)`,
    );
  }

  async apply(): Promise<Server[]> {
    return this.servers;
  }

  async list(): Promise<Server[]> {
    return this.servers;
  }

  async destroy(onProgress?: (server: string, message: string) => void): Promise<void> {
    for (const s of this.servers)
      onProgress?.(s.name, "existing server: left as it is (drasyl-deploy did not create it)");
  }
}
