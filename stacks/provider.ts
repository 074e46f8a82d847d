/**
 * One model for every server drasyl-deploy installs onto, whether a cloud created it, the local
 * lab did, or the operator already had it. The installer and the commands only see Server.
 */
export type ServerArch = "x64" | "arm64";

export interface SshAccess {
  host: string;
  port: number;
  /** root, or a user with passwordless sudo. */
  user: string;
  /** Private key file; when absent, the ssh-agent at $SSH_AUTH_SOCK is used. */
  privateKeyPath?: string;
}

export interface Server {
  /** Unique within a deployment; names the identity and the pinned host key. */
  name: string;
  region: string;
  ipv4?: string;
  ipv6?: string;
  /** Preferred over the IPs in the DRASYL_SUPER_PEERS line when set. */
  dnsName?: string;
  ssh: SshAccess;
  /** Known in advance for cloud servers; otherwise detected over SSH. */
  arch?: ServerArch;
  /** OpenSSH-format public host key, when the provider knows it before first contact. */
  hostKey?: string;
}

/** The small interface every target kind's provider implements (stacks/<kind>/kind.ts makes it). */
export interface Provider {
  readonly kind: string;
  /** Whether apply() creates the servers (and destroy() removes them), rather than taking existing ones. */
  readonly createsServers: boolean;
  /** What apply() would do, as human-readable lines; changes nothing. */
  preview(): Promise<string[]>;
  /** Creates or updates the servers (a no-op for existing ones) and returns them. */
  apply(onProgress?: (server: string, message: string) => void): Promise<Server[]>;
  /** The servers as they exist now, without changing anything. */
  list(): Promise<Server[]>;
  /** Removes what apply() created; identities in the local state are kept. */
  destroy(onProgress?: (server: string, message: string) => void): Promise<void>;
}
