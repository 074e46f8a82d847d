/**
 * What the Pulumi layer needs to know about one cloud, so that nothing in stacks/pulumi/ names a
 * cloud: each cloud's folder exports its profile.
 */
export interface CloudProfile {
  /** The config's `kind`; also names the Pulumi project (`drasyl-deploy-<kind>`) and the stack's files. */
  kind: string;
  /** The provider's name in messages, e.g. "Hetzner Cloud". */
  displayName: string;
  /** Where an operator looks for resources by hand, e.g. "Hetzner Cloud console". */
  consoleName: string;
  /** The engine gets the variables with this prefix (credentials, the provider's settings) and no others of ours. */
  envPrefix: string;
  /** The Pulumi resource plugin, as in `pulumi plugin install resource <plugin>`. */
  plugin: string;
  /** What is missing for credentials, read only from the environment and standard files; undefined when they are there. */
  missingCredentials(env: NodeJS.ProcessEnv, exists: (path: string) => boolean): string | undefined;
  /** The message when the cloud rejected the credentials; `detail` is what the engine said, when it said something. */
  credentialsRejected(detail: string | undefined): string;
}
