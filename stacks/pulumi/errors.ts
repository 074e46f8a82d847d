import type { CloudProfile } from "./profile.ts";
import { appendFileSync, existsSync, renameSync, statSync } from "node:fs";

export type CloudErrorKind =
  | "cli-missing"
  | "cli-too-old"
  | "credentials-missing"
  | "passphrase-missing"
  | "passphrase-wrong"
  | "lock-held"
  | "plugin-download"
  | "auth"
  | "permission"
  | "region-disabled"
  | "quota"
  | "cancelled"
  | "killed"
  | "engine";

/** An expected failure with a short, actionable message; the engine's full text is in the debug log. */
export class CloudError extends Error {
  override readonly name = "CloudError";
  constructor(
    readonly kind: CloudErrorKind,
    message: string,
    readonly debugLog?: string,
  ) {
    super(debugLog ? `${message}\n(full engine output: ${debugLog})` : message);
  }
}

/** Lines of the engine's text that say what failed, without the CLI's generic wrapper lines. */
function errorLines(text: string, max = 3): string[] {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => /^(error|Error|\*|│ Error|sdk-v2\/provider2\.go)/.test(l) || /error:|Error:/.test(l))
    .map((l) => l.replace(/^.*?\berror: /i, "").replace(/^\*\s+/, ""))
    .filter(
      (l) =>
        l &&
        !/^update failed$|^preview failed$|^destroy failed$|one or more errors occurred|^\d+ errors? occurred:?$/i.test(
          l,
        ),
    );
  return [...new Set(lines)].slice(0, max);
}

/**
 * The part of the engine's text that says what happened: an AWS API error's code and sentence,
 * else the first line matching `re` (from the match on with `fromMatch`, else without the CLI's
 * "error:" prefix and list bullets).
 */
function firstMatch(text: string, re: RegExp, max = 240, fromMatch = false): string | undefined {
  const api = /api error (\w+): ([^\n]*)/.exec(text);
  if (api && re.test(api[0])) return `${api[1]}: ${api[2]}`.slice(0, max);
  for (const line of text.split("\n")) {
    const m = re.exec(line);
    if (!m) continue;
    const part = fromMatch ? line.slice(m.index) : line.replace(/^.*?\berror: /i, "");
    return part
      .trim()
      .replace(/^\*\s+/, "")
      .slice(0, max);
  }
  return undefined;
}

const PATTERNS: { kind: CloudErrorKind; re: RegExp }[] = [
  {
    kind: "passphrase-missing",
    re: /unable to find either `PULUMI_CONFIG_PASSPHRASE`|passphrase must be set with PULUMI_CONFIG_PASSPHRASE/,
  },
  { kind: "passphrase-wrong", re: /incorrect passphrase/i },
  {
    kind: "lock-held",
    re: /the stack is currently locked by|\[409\] Conflict: Another update is currently in progress/,
  },
  {
    kind: "plugin-download",
    re: /(could not|failed to|unable to) (download|install|acquire) (the )?plugin|error downloading plugin|error fetching plugin|no resource plugin '[^']+' found|downloading plugin .* failed|plugin .* not found in the workspace/i,
  },
  {
    kind: "auth",
    re: /unable to authenticate|\(unauthorized[,)]|invalid (api )?token|token is invalid|InvalidClientTokenId|AuthFailure|SignatureDoesNotMatch|ExpiredToken|UnrecognizedClientException|no valid credential sources|unable to validate AWS credentials|failed to refresh cached credentials|security token included in the request is invalid/i,
  },
  { kind: "region-disabled", re: /OptInRequired|not (enabled|subscribed) for this (account|region)/i },
  {
    kind: "permission",
    re: /UnauthorizedOperation|AccessDenied|not authorized to perform|\(forbidden[,)]|insufficient permissions/i,
  },
  {
    kind: "quota",
    re: /resource_limit_exceeded|limit exceeded|LimitExceeded|AddressLimitExceeded|VpcLimitExceeded|InstanceLimitExceeded|VcpuLimitExceeded|quota|InsufficientInstanceCapacity|resource_unavailable|server_limit/i,
  },
];

/** Recognizes the engine failures an operator can act on and says what to do. */
export function explainEngineError(
  text: string,
  cloud: CloudProfile,
  stackName: string,
): { kind: CloudErrorKind; message: string } {
  const name = cloud.displayName;
  const kind = PATTERNS.find((p) => p.re.test(text))?.kind ?? "engine";
  switch (kind) {
    case "passphrase-missing":
      return {
        kind,
        message: `the Pulumi stack ${stackName} is encrypted with a passphrase: set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE)`,
      };
    case "passphrase-wrong":
      return {
        kind,
        message: `PULUMI_CONFIG_PASSPHRASE is not the passphrase the Pulumi stack ${stackName} was created with. Nothing was changed and the state was not re-initialized: run again with the original passphrase`,
      };
    case "lock-held":
      return {
        kind,
        message: `the Pulumi stack ${stackName} is locked by another update: ${firstMatch(text, /locked by|created by|Conflict/) ?? "an update is in progress"}`,
      };
    case "plugin-download":
      return {
        kind,
        message: `the Pulumi engine could not get the ${name} provider plugin (${firstMatch(text, /failed to download plugin|error fetching plugin|no resource plugin/i, 160, true) ?? firstMatch(text, /plugin/i, 160) ?? "download failed"}). It is downloaded once per machine into ~/.pulumi/plugins: allow this machine to reach github.com and get.pulumi.com, or run \`pulumi plugin install resource ${cloud.plugin} <version>\` where it can`,
      };
    case "auth":
      return {
        kind,
        message: cloud.credentialsRejected(firstMatch(text, PATTERNS.find((p) => p.kind === "auth")?.re ?? /auth/)),
      };
    case "region-disabled":
      return {
        kind,
        message:
          `${name}: a region of this deployment is not enabled for the account: ${firstMatch(text, /OptInRequired|not (enabled|subscribed)/i) ?? ""}`.trim(),
      };
    case "permission":
      return {
        kind,
        message:
          `${name} refused an operation for lack of permission: ${firstMatch(text, PATTERNS.find((p) => p.kind === "permission")?.re ?? /denied/) ?? ""}`.trim(),
      };
    case "quota":
      return {
        kind,
        message: `${name} refused for a limit or capacity reason: ${firstMatch(text, PATTERNS.find((p) => p.kind === "quota")?.re ?? /limit/) ?? ""}. Ask ${name} to raise the limit, pick another server type or location, or deploy fewer regions`,
      };
    default: {
      const lines = errorLines(text);
      return {
        kind,
        message: `the Pulumi engine failed: ${lines.length > 0 ? lines.join("; ") : (text.trim().split("\n").at(-1) ?? "unknown error").slice(0, 300)}`,
      };
    }
  }
}

/** Environment variables whose values must never reach a log file. */
export const SECRET_ENV = [
  "HCLOUD_TOKEN",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_SECURITY_TOKEN",
  "PULUMI_CONFIG_PASSPHRASE",
  "PULUMI_ACCESS_TOKEN",
];

/** Replaces every secret value (credentials, the passphrase) in a text with its variable's name. */
export function redactor(
  env: Record<string, string | undefined>,
  extra: Record<string, string> = {},
): (text: string) => string {
  const secrets: [string, string][] = [];
  for (const name of SECRET_ENV) {
    const v = env[name];
    if (v && v.length >= 4) secrets.push([v, name]);
  }
  for (const [name, v] of Object.entries(extra)) if (v.length >= 4) secrets.push([v, name]);
  secrets.sort((a, b) => b[0].length - a[0].length);
  return (text) => {
    let out = text;
    for (const [value, name] of secrets) out = out.split(value).join(`[${name} redacted]`);
    return out;
  };
}

/**
 * The engine's full output per operation, for when a short message is not enough. 0600 in the
 * deployment's state directory; secrets are redacted before anything is written; rotated at 5 MB.
 */
export class DebugLog {
  constructor(
    readonly path: string,
    /** Also for what reaches the terminal from the engine (diagnostics, error messages). */
    readonly redact: (text: string) => string,
    private readonly maxBytes = 5 * 1024 * 1024,
  ) {}

  write(text: string): void {
    if (existsSync(this.path) && statSync(this.path).size > this.maxBytes) renameSync(this.path, `${this.path}.1`);
    appendFileSync(this.path, this.redact(text), { mode: 0o600 });
  }

  section(title: string): void {
    this.write(`\n===== ${new Date().toISOString()} ${title}\n`);
  }
}
