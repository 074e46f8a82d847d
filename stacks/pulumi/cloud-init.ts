import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../package-files.ts";
import { renderTemplate } from "../install/templates.ts";

export class UserDataError extends Error {
  override readonly name = "UserDataError";
}

export interface UserDataOptions {
  /** The login user; "root" keeps root and puts the key there. */
  user: string;
  /** One OpenSSH public key line, e.g. "ssh-ed25519 AAAA... drasyl-deploy". */
  authorizedKey: string;
}

const USER = /^[a-z_][a-z0-9_-]{0,31}$/;
const PUBLIC_KEY = /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,2}( [^\r\n]*)?$/;

/**
 * The cloud-init user data both clouds boot with (templates/cloud-init.yaml): creates the login
 * user with the deployment's key and passwordless sudo, closes password logins, and nothing else.
 */
export function renderUserData(opts: UserDataOptions): string {
  if (!USER.test(opts.user)) throw new UserDataError(`"${opts.user}" is not a valid login user name`);
  if (!PUBLIC_KEY.test(opts.authorizedKey))
    throw new UserDataError("the authorized key must be one OpenSSH public key line");
  const template = readFileSync(join(packageRoot(), "templates", "cloud-init.yaml"), "utf8");
  return renderTemplate(
    template,
    {
      user: opts.user,
      // A YAML double-quoted scalar (JSON's string syntax is a subset of it): a key comment stays text.
      authorizedKey: JSON.stringify(opts.authorizedKey),
      disableRoot: opts.user === "root" ? "false" : "true",
    },
    "cloud-init.yaml",
  );
}
