import type { CloudProfile } from "../pulumi/profile.ts";

export const HCLOUD_PROFILE: CloudProfile = {
  kind: "hcloud",
  displayName: "Hetzner Cloud",
  consoleName: "Hetzner Cloud console",
  envPrefix: "HCLOUD_",
  plugin: "hcloud",
  missingCredentials(env) {
    if (env.HCLOUD_TOKEN && env.HCLOUD_TOKEN.trim() !== "") return undefined;
    return "no Hetzner Cloud credentials: set HCLOUD_TOKEN to an API token of the project (Cloud Console > Security > API tokens, Read & Write). drasyl-deploy passes it to the engine only through the environment and never stores it";
  },
  credentialsRejected() {
    return "Hetzner Cloud rejected the API token: set HCLOUD_TOKEN to a Read & Write token of the project (Cloud Console > Security > API tokens)";
  },
};
