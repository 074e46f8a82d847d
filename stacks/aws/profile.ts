import { homedir } from "node:os";
import { join } from "node:path";
import type { CloudProfile } from "../pulumi/profile.ts";

export const AWS_PROFILE: CloudProfile = {
  kind: "aws",
  displayName: "AWS",
  consoleName: "AWS console",
  envPrefix: "AWS_",
  plugin: "aws",
  missingCredentials(env, exists) {
    if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) return undefined;
    if (
      env.AWS_PROFILE ||
      env.AWS_DEFAULT_PROFILE ||
      env.AWS_WEB_IDENTITY_TOKEN_FILE ||
      env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI ||
      env.AWS_CONTAINER_CREDENTIALS_FULL_URI
    )
      return undefined;
    const home = env.HOME ?? homedir();
    const files = [
      env.AWS_SHARED_CREDENTIALS_FILE ?? join(home, ".aws", "credentials"),
      env.AWS_CONFIG_FILE ?? join(home, ".aws", "config"),
    ];
    if (files.some(exists)) return undefined;
    return "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or AWS_PROFILE with a profile from ~/.aws/config (e.g. after `aws sso login`). drasyl-deploy passes them to the engine only through the environment and never stores them";
  },
  credentialsRejected(detail) {
    return `AWS rejected the credentials (${detail ?? "authentication failed"}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or AWS_PROFILE; \`aws sts get-caller-identity\` shows which identity is used`;
  },
};
